"""What handling a message writes, in-process: members messages fed to the service's
handler methods (``on_<source>_<event_type>``) build its directory, then a members,
certification or events message is handled, and the test asserts exactly which
notifications and deliveries (channel, status, recipient) were written, for whom, in
which words: every message of the catalogue in both languages, an announcement only
to the active members of its city and field who want announcements, a cancellation to
everyone registered, the member's channels and the platform's (no SMS when it has no
gateway), a member the directory has not heard of asked of members, the same message
twice written once, and a message of the wrong shape refused with its reason before
anything is written.

What only running services show stays in tests/notifications: messages reaching
these handlers through their queues, parking (the dead-letter queue and its headers),
the batches' separate transactions, and sending.
"""
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import insert, select

from services.notifications import domain, operations
from services.notifications.models import Contact, Delivery, Notification, Preference
from shared.envelope import MalformedMessage
from shared.rpc import ServiceTimeout
from tests.support.factories import member_record
from tests.support.samples import sample, validate
from tests.support.usecases import (
    activated,
    changed,
    hear,
    notifications_rows,
    notifications_worker,
)


@pytest.fixture
def members(notifications):
    return notifications.service.members


def known(notifications, status="active", **overrides):
    """A member the directory knows (from the message members sent), in ``status``."""
    record = member_record("pending", **overrides)
    hear(notifications, "members", "member_registered", record)
    if status == "active":
        record = activated(record)
        hear(notifications, "members", "member_activated", record)
    elif status == "suspended":
        record = changed(activated(record), minutes=2, status="suspended", reason="audit")
        hear(notifications, "members", "member_suspended", record)
    return record


def told(notifications, envelope):
    """``{member_id: (subject, body)}``: the notifications written for a message."""
    return {n.member_id: (n.subject, n.body) for n in notifications.session.scalars(
        select(Notification).where(Notification.source_event_id == envelope["event_id"]))}


def sent(notifications, envelope):
    """``{(member_id, channel, status, recipient)}``: the deliveries written for a message."""
    return {(d.member_id, d.channel, d.status, d.recipient)
            for d in notifications.session.scalars(
                select(Delivery).where(Delivery.source_event_id == envelope["event_id"]))}


def every_channel(member, status="pending"):
    return {(member["id"], "in_app", "sent", None), (member["id"], "email", status,
                                                     member["email"]),
            (member["id"], "sms", status, member["phone"])}


def contact_of(notifications, member_id):
    contact = notifications.session.get(Contact, member_id, populate_existing=True)
    return None if contact is None else {
        "email": contact.email, "phone": contact.phone, "status": contact.status,
        "subsector": contact.subsector, "city": contact.city, "locale": contact.locale}


def rendered(source, event_type, data, name, locale="id"):
    text, _ = domain.template_text(source, event_type, locale)
    return domain.render(text, domain.template_values(text, data, name, locale))


# -- a member's own messages, on each channel --------------------------------------------------

def test_a_registration_writes_the_directory_a_notification_and_three_deliveries(
        notifications):
    record = member_record("pending", phone="+6281254011001")
    envelope = hear(notifications, "members", "member_registered", record)
    assert contact_of(notifications, record["id"]) == {
        "email": record["email"], "phone": "+6281254011001", "status": "pending",
        "subsector": "kuliner", "city": "Balikpapan", "locale": "id"}
    assert told(notifications, envelope) == {record["id"]: rendered(
        "members", "member_registered", record, record["full_name"])}
    assert sent(notifications, envelope) == every_channel(record)

    rows = {d.channel: d for d in notifications.session.scalars(
        select(Delivery).where(Delivery.source_event_id == envelope["event_id"]))}
    [notice] = notifications.list_inbox(record["id"])["items"]
    for delivery in rows.values():  # the words of the notice, on every channel
        assert (delivery.subject, delivery.body, delivery.locale) == (
            notice["subject"], notice["body"], "id")
        assert delivery.event_type == "member_registered" and delivery.last_error is None
    assert (rows["in_app"].attempts, rows["in_app"].next_attempt_at) == (1, None)
    assert rows["in_app"].sent_at is not None
    for channel in ("email", "sms"):  # due now, for the delivery worker
        assert (rows[channel].attempts, rows[channel].sent_at) == (0, None)
        assert rows[channel].next_attempt_at is not None
    assert notifications.service.members.asked == []  # the message carried the record


def test_without_an_sms_gateway_a_pending_member_gets_no_sms(session_of):
    notifications = notifications_worker(session_of("notifications"), sms_enabled=False)
    record = member_record("pending")
    registered = hear(notifications, "members", "member_registered", record)
    assert sent(notifications, registered) == {
        (record["id"], "in_app", "sent", None), (record["id"], "email", "pending",
                                                 record["email"])}
    record = activated(record)
    activated_envelope = hear(notifications, "members", "member_activated", record)
    assert {channel for _, channel, _, _ in sent(notifications, activated_envelope)} == {
        "in_app", "email"}
    assert notifications.delivery_counts() == {"in_app": {"sent": 2}, "email": {"pending": 2}}


def test_a_member_without_email_or_phone_is_told_in_app_only(notifications):
    record = member_record("pending", email=None, phone=None)
    envelope = hear(notifications, "members", "member_registered", record)
    assert sent(notifications, envelope) == {(record["id"], "in_app", "sent", None)}
    assert list(told(notifications, envelope)) == [record["id"]]


def test_the_members_choices_decide_email_and_sms_but_never_the_inbox(notifications):
    member = known(notifications)
    notice = sample("certification", "certificate_issued", member_id=member["id"])

    notifications.set_preferences(member["id"], {"email": False, "announcements": False})
    first = hear(notifications, "certification", "certificate_issued", notice)
    assert sent(notifications, first) == {(member["id"], "in_app", "sent", None),
                                          (member["id"], "sms", "pending", member["phone"])}
    notifications.set_preferences(member["id"], {"sms": False})
    second = hear(notifications, "certification", "certificate_issued", notice)
    assert sent(notifications, second) == {(member["id"], "in_app", "sent", None)}
    notifications.set_preferences(member["id"], {"email": True, "sms": True})
    third = hear(notifications, "certification", "certificate_issued", notice)
    assert sent(notifications, third) == every_channel(member)
    assert [n["event_type"] for n in notifications.list_inbox(member["id"])["items"]] == [
        "certificate_issued"] * 3 + ["member_activated", "member_registered"]


def test_the_directory_keeps_the_newest_record_and_deliveries_their_address(notifications):
    member = known(notifications)
    before = hear(notifications, "certification", "certificate_issued",
                  sample("certification", "certificate_issued", member_id=member["id"]))
    moved = changed(member, minutes=5, email="baru@example.id", phone="+6281299990000",
                    city="Samarinda")
    updated = hear(notifications, "members", "member_updated", moved)
    assert told(notifications, updated) == {} and sent(notifications, updated) == set()
    hear(notifications, "members", "member_updated",  # older: changes nothing
         changed(member, minutes=3, email="lama@example.id"))
    assert contact_of(notifications, member["id"]) == {
        "email": "baru@example.id", "phone": "+6281299990000", "status": "active",
        "subsector": "kuliner", "city": "Samarinda", "locale": "id"}

    after = hear(notifications, "certification", "certificate_issued",
                 sample("certification", "certificate_issued", member_id=member["id"]))
    assert sent(notifications, before) == every_channel(member)  # the address it was sent to
    assert sent(notifications, after) == every_channel(moved)


def test_a_member_in_english_is_told_in_english_on_every_channel(notifications):
    member = known(notifications, locale="en")
    data = sample("certification", "certificate_issued", member_id=member["id"])
    envelope = hear(notifications, "certification", "certificate_issued", data)
    subject, body = rendered("certification", "certificate_issued", data, member["full_name"],
                             "en")
    assert told(notifications, envelope) == {member["id"]: (subject, body)}
    assert data["number"] in subject and data["verify_url"] in body
    assert {d.locale for d in notifications.session.scalars(
        select(Delivery).where(Delivery.source_event_id == envelope["event_id"]))} == {"en"}


# -- every message of the catalogue --------------------------------------------------------------

@pytest.mark.parametrize("locale", ["id", "en"])
@pytest.mark.parametrize("source, event_type", domain.catalog(),
                         ids=[f"{s}.{e}" for s, e in domain.catalog()])
def test_every_message_tells_exactly_its_members_in_their_language(
        notifications, source, event_type, locale):
    city = f"Kota {uuid.uuid4().hex[:6]}"
    address = domain.address_of(source, event_type)
    bystander = known(notifications, city=city, subsector="musik", locale=locale)
    if source == "members":  # the message carries the member's own record
        concerned = [member_record("pending", city=city, locale=locale,
                                   phone="+6281254011002")]
        data = sample(source, event_type, **{key: concerned[0][key] for key in (
            "id", "full_name", "email", "phone", "city", "locale")})
        concerned = [{**concerned[0], **data}]
    else:
        concerned = [known(notifications, city=city, subsector="kuliner", locale=locale)
                     for _ in range(2 if address == "member_ids" else 1)]
        data = sample(source, event_type, **(
            {"member_ids": [m["id"] for m in concerned]} if address == "member_ids" else
            {"city": city, "subsectors": ["kuliner"]} if address == domain.ANNOUNCEMENT else
            {"member_id": concerned[0]["id"]}))
    validate(source, event_type, data)  # what the producer could send
    inbox = notifications.list_inbox(bystander["id"])

    envelope = hear(notifications, source, event_type, data)

    assert told(notifications, envelope) == {
        member["id"]: rendered(source, event_type, data, member["full_name"], locale)
        for member in concerned}
    other = "en" if locale == "id" else "id"
    for member in concerned:
        assert told(notifications, envelope)[member["id"]][0] != rendered(
            source, event_type, data, member["full_name"], other)[0]
    assert sent(notifications, envelope) == set().union(*map(every_channel, concerned))
    assert notifications.list_inbox(bystander["id"]) == inbox
    assert notifications.service.members.asked == []


# -- audiences ----------------------------------------------------------------------------------

def test_an_announcement_reaches_exactly_the_members_it_should(notifications):
    city = f"Kota {uuid.uuid4().hex[:6]}"
    fan = known(notifications, city=city, subsector="kuliner")
    shouting = known(notifications, city=city.upper(), subsector="kuliner")  # the same city
    other_field = known(notifications, city=city, subsector="musik")
    other_city = known(notifications, city="Samarinda", subsector="kuliner")
    pending = known(notifications, status="pending", city=city, subsector="kuliner")
    suspended = known(notifications, status="suspended", city=city, subsector="kuliner")
    not_interested = known(notifications, city=city, subsector="kuliner")
    notifications.set_preferences(not_interested["id"], {"announcements": False})
    no_email = known(notifications, city=city, subsector="kuliner")
    notifications.set_preferences(no_email["id"], {"email": False})
    event = sample("events", "event_published", city=city.lower(), subsectors=["kuliner"],
                   title="Dialog Publik Ekonomi Kreatif")

    envelope = hear(notifications, "events", "event_published", event)
    assert told(notifications, envelope) == {
        member["id"]: rendered("events", "event_published", event, member["full_name"])
        for member in (fan, shouting, no_email)}
    assert sent(notifications, envelope) == every_channel(fan) | every_channel(shouting) | {
        (no_email["id"], "in_app", "sent", None),
        (no_email["id"], "sms", "pending", no_email["phone"])}

    for_all = hear(notifications, "events", "event_published",
                   {**event, "id": str(uuid.uuid4()), "subsectors": []})
    assert set(told(notifications, for_all)) == {fan["id"], shouting["id"], no_email["id"],
                                                 other_field["id"]}
    for member in (other_city, pending, suspended, not_interested):
        assert [n["event_type"] for n in notifications.list_inbox(member["id"])["items"]
                if n["event_type"] == "event_published"] == []
    assert notifications.service.members.asked == []  # an announcement asks nobody


def test_an_announcement_to_more_members_than_a_batch_tells_each_once(notifications):
    city = f"Kota Besar {uuid.uuid4().hex[:6]}"
    now = datetime.now(timezone.utc)
    count = 2 * operations.BATCH_SIZE + 201
    contacts = [{"member_id": str(uuid.uuid4()), "full_name": f"Anggota {i}", "email": None,
                 "phone": None, "locale": "id", "status": "active", "subsector": "kriya",
                 "city": city, "city_key": city.casefold(), "source_updated_at": now}
                for i in range(count)]
    notifications.session.execute(insert(Contact.__table__), contacts)
    ordered = sorted(c["member_id"] for c in contacts)
    # Every member of the first batch but one, and some later, do not want announcements.
    declined = set(ordered[:operations.BATCH_SIZE - 1] + ordered[-3:])
    notifications.session.execute(insert(Preference.__table__), [
        {"member_id": member_id, "email": True, "sms": True, "announcements": False}
        for member_id in declined])

    envelope = hear(notifications, "events", "event_published",
                    sample("events", "event_published", city=city, subsectors=[]))
    assert set(told(notifications, envelope)) == set(ordered) - declined
    assert sent(notifications, envelope) == {(member_id, "in_app", "sent", None)
                                             for member_id in set(ordered) - declined}
    assert len(told(notifications, envelope)) == 1 + operations.BATCH_SIZE + 201 - 3


def test_a_cancellation_reaches_everyone_registered_once(notifications, members):
    registered = [known(notifications) for _ in range(3)]
    bystander = known(notifications)
    nobody = str(uuid.uuid4())
    member_ids = [registered[0]["id"].upper(), registered[1]["id"], registered[2]["id"],
                  nobody, registered[1]["id"]]
    data = sample("events", "event_cancelled", member_ids=member_ids, reason="Cuaca buruk",
                  title="Pelatihan Fotografi Produk", kind="training")

    envelope = hear(notifications, "events", "event_cancelled", data)
    assert told(notifications, envelope) == {
        member["id"]: rendered("events", "event_cancelled", data, member["full_name"])
        for member in registered}
    assert all("Cuaca buruk" in body for _, body in told(notifications, envelope).values())
    assert sent(notifications, envelope) == set().union(*map(every_channel, registered))
    assert members.asked == [nobody]  # only the one the directory had not heard of
    assert [n["event_type"] for n in notifications.list_inbox(bystander["id"])["items"]] == [
        "member_activated", "member_registered"]


def test_a_member_the_directory_has_not_heard_of_is_asked_of_members(notifications, members):
    member = members.add(member_record("active", locale="en", phone="+6281254011003"))
    data = sample("certification", "certificate_issued", member_id=member["id"])

    envelope = hear(notifications, "certification", "certificate_issued", data)
    assert members.asked == [member["id"]]
    assert contact_of(notifications, member["id"]) == {
        "email": member["email"], "phone": "+6281254011003", "status": "active",
        "subsector": "kuliner", "city": "Balikpapan", "locale": "en"}
    assert told(notifications, envelope) == {member["id"]: rendered(
        "certification", "certificate_issued", data, member["full_name"], "en")}
    assert sent(notifications, envelope) == every_channel(member)

    hear(notifications, "certification", "certificate_issued", data)
    assert members.asked == [member["id"]]  # known now: not asked again


def test_a_member_nobody_knows_is_told_nothing(notifications, members):
    unknown = str(uuid.uuid4())
    envelope = hear(notifications, "certification", "certificate_issued",
                    sample("certification", "certificate_issued", member_id=unknown))
    assert members.asked == [unknown]
    assert told(notifications, envelope) == {} and sent(notifications, envelope) == set()
    assert contact_of(notifications, unknown) is None


def test_when_members_does_not_answer_nothing_is_written_and_the_message_can_be_retried(
        notifications, members):
    stranger = members.add(member_record("active"))
    member = known(notifications)
    members.answering = False
    before = notifications_rows(notifications)
    data = sample("events", "event_cancelled", member_ids=[member["id"], stranger["id"]])

    with pytest.raises(ServiceTimeout):
        hear(notifications, "events", "event_cancelled", data)
    assert notifications_rows(notifications) == before  # not even the message marked as processed

    members.answering = True
    envelope = hear(notifications, "events", "event_cancelled", data)
    assert set(told(notifications, envelope)) == {member["id"], stranger["id"]}


# -- exactly once, and the wrong shape -----------------------------------------------------------

def test_the_same_message_twice_is_written_once(notifications):
    member = known(notifications)
    data = sample("certification", "certificate_issued", member_id=member["id"])
    envelope = hear(notifications, "certification", "certificate_issued", data)
    written = notifications_rows(notifications)
    hear(notifications, "certification", "certificate_issued", data, envelope=envelope)
    assert notifications_rows(notifications) == written
    assert sent(notifications, envelope) == every_channel(member)


def refusal(source, event_type, make_data, reason, name):
    return pytest.param(source, event_type, make_data, reason, id=name)


@pytest.mark.parametrize("source, event_type, make_data, reason", [
    refusal("certification", "certificate_issued", lambda member: {},
            "certification.certificate_issued: data lacks member_id, number, scheme_title, "
            "valid_until, verify_url", "empty"),
    refusal("members", "member_activated", lambda member: {},
            "members.member_activated: data lacks id, member_number, valid_until", "empty-member"),
    refusal("events", "event_published",
            lambda member: sample("events", "event_published", city=member["city"],
                                  subsectors="kuliner"),
            "events.event_published: subsectors must be a list of strings", "subsectors-string"),
    refusal("events", "event_published",
            lambda member: {k: v for k, v in sample("events", "event_published").items()
                            if k != "city"},
            "events.event_published: data lacks city", "no-city"),
    refusal("events", "event_published",
            lambda member: sample("events", "event_published", city="  "),
            "events.event_published: city must be a non-empty string", "blank-city"),
    refusal("events", "event_cancelled",
            lambda member: sample("events", "event_cancelled", member_ids="abc"),
            "events.event_cancelled: member_ids must be a list of UUIDs", "member_ids-string"),
    refusal("events", "event_cancelled",
            lambda member: sample("events", "event_cancelled", member_ids=[member["id"], "abc"]),
            "events.event_cancelled: member_ids must be a list of UUIDs", "member_ids-not-uuid"),
    refusal("certification", "certificate_issued",
            lambda member: sample("certification", "certificate_issued",
                                  member_id=member["id"], valid_until="soon"),
            "certification.certificate_issued: valid_until must be an ISO 8601 date-time",
            "bad-date"),
    refusal("certification", "certificate_issued",
            lambda member: sample("certification", "certificate_issued", member_id=42),
            "certification.certificate_issued: member_id must be a UUID", "member_id-int"),
    refusal("certification", "assessment_completed",
            lambda member: sample("certification", "assessment_completed",
                                  member_id=member["id"], outcome="brilliant"),
            "certification.assessment_completed: outcome must be one of ", "unknown-outcome"),
    refusal("members", "member_registered",
            lambda member: {**member, "updated_at": "later"},
            "updated_at is not an ISO 8601 time", "member-record-bad-time"),
])
def test_a_message_of_the_wrong_shape_is_refused_with_its_reason_and_nothing_written(
        notifications, source, event_type, make_data, reason):
    member = known(notifications)
    before = notifications_rows(notifications)
    with pytest.raises(MalformedMessage) as raised:
        hear(notifications, source, event_type, make_data(member))
    assert str(raised.value).startswith(reason), str(raised.value)
    assert notifications_rows(notifications) == before


def test_an_envelope_of_the_wrong_shape_is_refused_with_its_reason(notifications):
    before = notifications_rows(notifications)
    with pytest.raises(MalformedMessage) as raised:
        notifications.on_certification_certificate_issued(
            {"event_type": "certificate_issued", "data": {"marker": "x"}})
    assert str(raised.value) == ("envelope lacks event_id, occurred_at, producer, "
                                 "schema_version")
    assert notifications_rows(notifications) == before
