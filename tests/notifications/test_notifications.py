"""The notifications service against the real broker and database, a real SMTP
server (aiosmtpd) and a local stand-in for the SMS gateway: what only the running
service shows (real sends, retries and their timing, messages through its queues,
parked messages, races, timers). Bad input, filters, pages, preferences and who is
told what are checked in-process in tests/usecases/test_notifications_*.py."""
import math
import uuid
from datetime import datetime, timezone

import eventlet
import pytest
import sqlalchemy as sa
from nameko.standalone.events import event_dispatcher

from services.notifications import domain, operations
from shared.envelope import make_envelope
from tests.support.samples import sample, validate
from tests.support.broker import parked_message
from tests.support.calls import names_field, remote_error, validation_fields
from tests.support.factories import make_member, new_phone
from tests.support.member_view import times_skipped_as_applied
from tests.support.waiting import wait_until
from tests.support.identities import admin_context


@pytest.fixture(scope="session")
def nrpc(rpc, notifications_service):
    return rpc


def inbox(nrpc, member_id, **filters):
    return nrpc.notifications.list_inbox(member_id, filters or None)["items"]


def wait_for_inbox(nrpc, member_id, event_type, count=1, timeout=15):
    return wait_until(
        lambda: len(found := [n for n in inbox(nrpc, member_id, limit=200)
                              if n["event_type"] == event_type]) >= count and found,
        timeout=timeout, message=f"{count} {event_type} in the inbox")


def deliveries(nrpc, member_id, **filters):
    return nrpc.notifications.list_deliveries({"member_id": member_id, "limit": 200,
                                               **filters})["items"]


def publish(config, source, event_type, data, times=1):
    envelope = make_envelope(source, event_type, data)
    dispatch = event_dispatcher(config)
    for _ in range(times):
        dispatch(source, event_type, envelope)
    return envelope


def certificate_data(member, number=None):
    number = number or f"CRT-2026-{uuid.uuid4().hex[:4].upper()}-AAAA-BBBB"
    return {"number": number, "member_id": member["id"], "holder_name": member["full_name"],
            "scheme_code": "DKV-MUDA", "scheme_title": "Desainer Grafis Muda",
            "status": "active", "issued_at": "2026-11-28T03:00:00+00:00",
            "valid_until": "2029-11-28T03:00:00+00:00",
            "verify_url": f"https://sertifikat.ekraf-kaltim.test/certificates/{number}"}


# -- the member's own messages, every channel, each language ------------------------

def test_activation_reaches_inbox_email_and_sms_in_bahasa_indonesia(
        nrpc, smtp_server, sms_gateway):
    member = make_member(nrpc)
    [activated] = wait_for_inbox(nrpc, member["id"], "member_activated")
    assert activated["subject"] == f"Keanggotaan Anda aktif: {member['member_number']}"
    assert member["member_number"] in activated["body"] and activated["read_at"] is None
    assert set(activated) == {"id", "member_id", "event_type", "subject", "body", "created_at",
                              "read_at"}
    [mail] = wait_until(lambda: [m for m in smtp_server.messages(to=member["email"])
                                 if "aktif" in m["Subject"]])
    assert mail["Subject"] == activated["subject"]
    assert mail["From"] == "EKRAF Kaltim <noreply@ekraf-kaltim.test>"
    assert mail["Content-Language"] == "id"
    assert member["member_number"] in mail.get_payload(decode=True).decode()
    wait_until(lambda: any(member["member_number"] in r["message"]
                           for r in sms_gateway.sent_to(member["phone"])))
    sent = wait_until(lambda: [d for d in deliveries(nrpc, member["id"],
                                                     event_type="member_activated")
                               if d["status"] == "sent"] if len(deliveries(
                                   nrpc, member["id"], event_type="member_activated",
                                   status="sent")) == 3 else None)
    assert {d["channel"] for d in sent} == {"in_app", "email", "sms"}
    assert set(sent[0]) == {"id", "member_id", "channel", "event_type", "status", "attempts",
                            "last_error", "created_at", "sent_at", "retries", "retried_at"}


def test_english_for_members_who_chose_it(nrpc, smtp_server):
    member = make_member(nrpc, locale="en")
    [activated] = wait_for_inbox(nrpc, member["id"], "member_activated")
    assert activated["subject"] == f"Your membership is active: {member['member_number']}"
    [mail] = wait_until(lambda: [m for m in smtp_server.messages(to=member["email"])
                                 if "active" in m["Subject"]])
    assert mail["Content-Language"] == "en"
    assert "Valid until" in mail.get_payload(decode=True).decode()


def test_a_certificate_notice_carries_its_number_and_verify_link(nrpc, base_config, smtp_server):
    member = make_member(nrpc)
    data = certificate_data(member)
    publish(base_config, "certification", "certificate_issued", data)
    [notice] = wait_for_inbox(nrpc, member["id"], "certificate_issued")
    assert data["number"] in notice["subject"]
    assert data["verify_url"] in notice["body"]
    [mail] = wait_until(lambda: [m for m in smtp_server.messages(to=member["email"])
                                 if data["number"] in m["Subject"]])
    assert data["verify_url"] in mail.get_payload(decode=True).decode()


@pytest.mark.parametrize("locale", ["id", "en"])
@pytest.mark.parametrize("source, event_type", domain.catalog())
def test_every_message_reaches_exactly_its_members_in_their_language(
        nrpc, base_config, source, event_type, locale):
    city = f"Kota {uuid.uuid4().hex[:6]}"
    address = domain.address_of(source, event_type)
    # Someone in the same city and language whom the message does not concern.
    bystander = make_member(nrpc, city=city, subsector="musik", locale=locale)
    wait_for_inbox(nrpc, bystander["id"], "member_activated")
    bystanders_inbox = inbox(nrpc, bystander["id"])
    if source == "members":  # the message carries the member's record: new to the directory
        phone, e164 = new_phone()
        data = sample(source, event_type, id=str(uuid.uuid4()), locale=locale, city=city,
                      full_name=f"Anggota {uuid.uuid4().hex[:6]}", phone=e164,
                      email=f"anggota.{uuid.uuid4().hex[:10]}@example.id")
        names = {data["id"]: data["full_name"]}
    else:
        members = [make_member(nrpc, city=city, subsector="kuliner", locale=locale)
                   for _ in range(2 if address == "member_ids" else 1)]
        names = {member["id"]: member["full_name"] for member in members}
        for member_id in names:  # the directory knows them as active
            wait_for_inbox(nrpc, member_id, "member_activated")
        data = sample(source, event_type, **(
            {"member_ids": list(names)} if address == "member_ids" else
            {"city": city, "subsectors": ["kuliner"]} if address == domain.ANNOUNCEMENT else
            {"member_id": members[0]["id"]}))
    validate(source, event_type, data)  # what the producer could send
    publish(base_config, source, event_type, data)

    text, used = domain.template_text(source, event_type, locale)
    other_text, _ = domain.template_text(source, event_type, "en" if locale == "id" else "id")
    for member_id, name in names.items():
        [notice] = wait_for_inbox(nrpc, member_id, event_type)
        subject, body = domain.render(text, domain.template_values(text, data, name, locale))
        assert used == locale and notice["subject"] == subject and notice["body"] == body
        assert notice["subject"] != domain.render(other_text, domain.template_values(
            other_text, data, name, "en" if locale == "id" else "id"))[0]
        assert [n["event_type"] for n in inbox(nrpc, member_id)].count(event_type) == 1
    # Everyone's notices of a message are written in one transaction: none is late.
    assert inbox(nrpc, bystander["id"]) == bystanders_inbox


# -- exactly once ------------------------------------------------------------------------

def test_the_same_message_three_times_gives_one_notification_per_channel(
        nrpc, base_config, smtp_server, sms_gateway, notifications_service):
    member = make_member(nrpc)
    data = certificate_data(member)
    envelope = publish(base_config, "certification", "certificate_issued", data, times=3)
    wait_for_inbox(nrpc, member["id"], "certificate_issued")
    wait_until(lambda: len(deliveries(nrpc, member["id"], event_type="certificate_issued",
                                      status="sent")) == 3)
    # The two copies handled: recognised and skipped, nothing written for them.
    wait_until(lambda: times_skipped_as_applied(
        notifications_service, "on_certification_certificate_issued", envelope) == 2,
        message="the two copies skipped")
    assert len([n for n in inbox(nrpc, member["id"])
                if n["event_type"] == "certificate_issued"]) == 1
    assert sorted(d["channel"] for d in deliveries(
        nrpc, member["id"], event_type="certificate_issued")) == ["email", "in_app", "sms"]
    assert len([m for m in smtp_server.messages(to=member["email"])
                if data["number"] in m["Subject"]]) == 1
    assert len([r for r in sms_gateway.sent_to(member["phone"])
                if data["number"] in r["message"]]) == 1


# -- failures: retries with backoff, then failed ------------------------------------------

def test_an_sms_gateway_that_fails_then_succeeds(nrpc, sms_gateway, smtp_server):
    phone, e164 = new_phone()
    sms_gateway.failures[e164] = 2
    member = make_member(nrpc, activate=False, phone=phone)
    [sms] = wait_until(lambda: [d for d in deliveries(nrpc, member["id"], channel="sms",
                                                      event_type="member_registered")
                                if d["status"] == "sent"], timeout=15)
    assert sms["attempts"] == 3 and "503" in sms["last_error"]
    assert len(sms_gateway.sent_to(e164)) == 3
    # Email was not held up by the failing gateway.
    [email] = deliveries(nrpc, member["id"], channel="email", event_type="member_registered")
    assert email["attempts"] == 1 and email["status"] == "sent"


def test_retries_wait_the_configured_delays(nrpc, sms_gateway, notifications_service):
    delays = [float(d) for d in
              notifications_service.env["NOTIFY_RETRY_DELAYS_SECONDS"].split(",")]
    phone, e164 = new_phone()
    sms_gateway.failures[e164] = 99
    member = make_member(nrpc, activate=False, phone=phone)
    wait_until(lambda: deliveries(nrpc, member["id"], channel="sms", status="failed"),
               timeout=15)
    times = sms_gateway.arrival_times(e164)
    assert len(times) == len(delays) + 1
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    for gap, delay in zip(gaps, delays):
        # At least the delay (it counts from the failed answer, after the request).
        # At most a poll (NOTIFY_POLL_SECONDS) and scheduling later: generously, as a
        # loaded machine can hold a green thread up for seconds; the bound only catches
        # a retry that waits for something else (a much longer delay, a stuck worker).
        assert delay <= gap < delay + 5, (gaps, delays)


def test_a_hanging_sms_gateway_holds_up_neither_email_nor_other_members(nrpc, sms_gateway):
    phone, e164 = new_phone()
    sms_gateway.delays[e164] = 30  # far past the 3 s send timeout used here
    slow = make_member(nrpc, activate=False, phone=phone)
    others = [make_member(nrpc, activate=False) for _ in range(3)]
    for member in [slow, *others]:
        [email] = wait_until(lambda: deliveries(nrpc, member["id"], channel="email",
                                                status="sent"), timeout=5)
        assert email["attempts"] == 1
    for member in others:
        wait_until(lambda: deliveries(nrpc, member["id"], channel="sms", status="sent"),
                   timeout=5)
    [sms] = wait_until(lambda: [d for d in deliveries(nrpc, slow["id"], channel="sms")
                                if d["last_error"]], timeout=10)
    assert "timed out" in sms["last_error"] and sms["status"] == "pending"
    sms_gateway.delays[e164] = 0


def test_delivery_counts_for_operators_are_the_tables_counts(nrpc, notifications_db):
    """The wiring: what operators get over RPC is the deliveries table counted by
    channel and status (the counting itself is checked exactly in-process). Sends of
    other tests may be under way, so it waits for a moment when both agree."""
    member = make_member(nrpc)
    wait_until(lambda: len(deliveries(nrpc, member["id"], status="sent")) == 6,
               message="the member's six deliveries sent")

    def table_counts():
        with notifications_db.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT channel, status, count(*) FROM deliveries GROUP BY channel, status"))
            counts = {}
            for channel, status, count in rows:
                counts.setdefault(channel, {})[status] = count
            return counts

    wait_until(lambda: nrpc.notifications.delivery_counts() == table_counts(),
               message="delivery_counts to equal the table's counts")


def test_a_send_that_keeps_failing_ends_failed_with_its_reason(nrpc, base_config, sms_gateway):
    phone, e164 = new_phone()
    sms_gateway.failures[e164] = 99
    member = make_member(nrpc, phone=phone)
    [sms] = wait_until(lambda: [d for d in deliveries(nrpc, member["id"], channel="sms",
                                                      event_type="member_activated")
                                if d["status"] == "failed"], timeout=15)
    assert sms["attempts"] == 4  # one try, then one after each of the 3 delays
    assert "503" in sms["last_error"] and sms["sent_at"] is None
    failed = nrpc.notifications.list_deliveries({"status": "failed", "channel": "sms",
                                                 "limit": 200})["items"]
    assert sms["id"] in {d["id"] for d in failed}
    both = wait_until(lambda: len(found := deliveries(nrpc, member["id"], channel="sms",
                                                      status="failed")) == 2 and found)
    assert [d["attempts"] for d in both] == [4, 4]
    assert len(sms_gateway.sent_to(e164)) == 8  # 4 for each of its two messages
    # A later SMS to the same phone, the gateway back: once it is sent, the delivery
    # worker has claimed what was due before it; the failed ones were not sent again.
    sms_gateway.failures[e164] = 0
    publish(base_config, "certification", "certificate_issued", certificate_data(member))
    wait_until(lambda: deliveries(nrpc, member["id"], channel="sms", status="sent",
                                  event_type="certificate_issued"), message="the later SMS")
    assert len(sms_gateway.sent_to(e164)) == 9
    assert [(d["status"], d["attempts"]) for d in deliveries(
        nrpc, member["id"], channel="sms", status="failed")] == [("failed", 4)] * 2


# -- audiences --------------------------------------------------------------------------------

def test_a_cancelled_event_reaches_everyone_registered(nrpc, base_config):
    members = [make_member(nrpc) for _ in range(3)]
    bystander = make_member(nrpc)
    # One id upper-cased, one of nobody: the others must still hear of it.
    member_ids = [members[0]["id"].upper(), members[1]["id"], members[2]["id"],
                  str(uuid.uuid4())]
    publish(base_config, "events", "event_cancelled", sample(
        "events", "event_cancelled", title="Pelatihan Fotografi Produk", kind="training",
        member_ids=member_ids, reason="Cuaca buruk"))
    for member in members:
        [notice] = wait_for_inbox(nrpc, member["id"], "event_cancelled")
        assert "Cuaca buruk" in notice["body"]
    # Written in the same transaction as the members' notices: none is still to come.
    assert not [n for n in inbox(nrpc, bystander["id"]) if n["event_type"] == "event_cancelled"]


def test_an_announcement_to_five_thousand_members_is_written_in_batches(
        nrpc, base_config, notifications_db):
    city = f"Kota Besar {uuid.uuid4().hex[:6]}"
    now = datetime.now(timezone.utc)
    contacts = [{"member_id": str(uuid.uuid4()), "full_name": f"Anggota {i}", "email": None,
                 "phone": None, "locale": "id", "status": "active", "subsector": "kriya",
                 "city": city, "city_key": city.casefold(), "source_updated_at": now}
                for i in range(5000)]
    with notifications_db.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO contacts (member_id, full_name, email, phone, locale, status, subsector,"
            " city, city_key, source_updated_at) VALUES (:member_id, :full_name, :email, :phone,"
            " :locale, :status, :subsector, :city, :city_key, :source_updated_at)"), contacts)
    publish(base_config, "events", "event_published", {
        "id": str(uuid.uuid4()), "title": "Pameran Kriya Kaltim", "kind": "exhibition",
        "venue": "Plaza Balikpapan", "city": city, "starts_at": "2026-12-20T02:00:00+00:00",
        "subsectors": [], "status": "published", "description": ""})

    def written():
        with notifications_db.connect() as connection:
            return connection.execute(sa.text(
                "SELECT count(*) FROM notifications n JOIN contacts c USING (member_id) "
                "WHERE c.city = :city"), {"city": city}).scalar()

    wait_until(lambda: written() == 5000, timeout=60, interval=0.5)
    # Each row's xmin is the transaction that wrote it: a handful of transactions for
    # 5,000 members, where one per member would be 5,000.
    with notifications_db.connect() as connection:
        transactions = connection.execute(sa.text(
            "SELECT count(DISTINCT t.xmin::text) FROM (SELECT n.xmin FROM notifications n"
            " JOIN contacts c USING (member_id) WHERE c.city = :city UNION ALL"
            " SELECT d.xmin FROM deliveries d JOIN contacts c USING (member_id)"
            " WHERE c.city = :city) t"), {"city": city}).scalar()
    assert 1 <= transactions <= math.ceil(5000 / operations.BATCH_SIZE)


def test_a_malformed_message_is_parked_with_the_reason(nrpc, base_config):
    # No event_id to find it by among what other tests parked: a marker in its data.
    marker = str(uuid.uuid4())
    sent = {"event_type": "certificate_issued", "data": {"marker": marker}}
    event_dispatcher(base_config)("certification", "certificate_issued", sent)
    parked, headers = parked_message(
        base_config, None, "notifications.dead-letter",
        matches=lambda envelope: envelope.get("data") == {"marker": marker})
    assert parked == sent
    assert "event_id" in headers["x-ekraf-error"] and headers["x-ekraf-attempts"] == 1


def rows_written(notifications_db, event_id):
    """What the service recorded of a message: notifications, deliveries, and whether
    it counts the message as processed."""
    with notifications_db.connect() as connection:
        return {table: connection.execute(sa.text(
            f"SELECT count(*) FROM {table} WHERE {column} = :event_id"),
            {"event_id": event_id}).scalar()
            for table, column in (("notifications", "source_event_id"),
                                  ("deliveries", "source_event_id"),
                                  ("processed_messages", "event_id"))}


@pytest.mark.parametrize("source, event_type, make_data, reason", [
    ("certification", "certificate_issued", lambda member: {}, "data lacks member_id"),
    ("members", "member_activated", lambda member: {}, "data lacks id"),
    ("events", "event_published",
     lambda member: sample("events", "event_published", city=member["city"],
                           subsectors="kuliner"),
     "subsectors must be a list of strings"),
    ("events", "event_published",
     lambda member: {k: v for k, v in sample("events", "event_published").items()
                     if k != "city"},
     "data lacks city"),
    ("events", "event_cancelled",
     lambda member: sample("events", "event_cancelled", member_ids="abc"),
     "member_ids must be a list of UUIDs"),
    ("events", "event_cancelled",
     lambda member: sample("events", "event_cancelled", member_ids=[member["id"], "abc"]),
     "member_ids must be a list of UUIDs"),
    ("certification", "certificate_issued",
     lambda member: {**certificate_data(member), "valid_until": "soon"},
     "valid_until must be an ISO 8601 date-time"),
], ids=["empty", "empty-member-record", "subsectors-string", "no-city", "member_ids-string",
        "member_ids-not-uuid", "bad-date"])
def test_wrong_shaped_data_is_parked_at_once_with_the_reason_and_nothing_written(
        nrpc, base_config, notifications_db, source, event_type, make_data, reason):
    member = make_member(nrpc, city=f"Kota {uuid.uuid4().hex[:6]}", subsector="kuliner")
    wait_for_inbox(nrpc, member["id"], "member_activated")
    envelope = publish(base_config, source, event_type, make_data(member))
    parked, headers = parked_message(base_config, envelope["event_id"], "notifications.dead-letter")
    assert headers["x-ekraf-attempts"] == 1  # parked at once, not retried
    assert headers["x-ekraf-error"].startswith("MalformedMessage")
    assert reason in headers["x-ekraf-error"]
    assert parked == envelope
    assert rows_written(notifications_db, envelope["event_id"]) == {
        "notifications": 0, "deliveries": 0, "processed_messages": 0}
    # (as a set: the two notices come through two queues, handled side by side)
    assert sorted(n["event_type"] for n in inbox(nrpc, member["id"])) == [
        "member_activated", "member_registered"]


# -- an operator sends failed deliveries again ------------------------------------------

def failed_sms(nrpc, member_id, count=1):
    return wait_until(lambda: len(found := deliveries(nrpc, member_id, channel="sms",
                                                      status="failed")) == count and found,
                      timeout=15, message=f"{count} failed SMS")


def test_a_failed_delivery_retried_gets_the_whole_schedule_again_and_ends_sent(
        nrpc, sms_gateway, notifications_service):
    tries = len(notifications_service.env["NOTIFY_RETRY_DELAYS_SECONDS"].split(",")) + 1
    phone, e164 = new_phone()
    # Fails every try of the first round, then twice more: sent only if the re-queued
    # delivery is given the whole schedule again (not failed at its first new failure).
    sms_gateway.failures[e164] = tries + 2
    member = make_member(nrpc, activate=False, phone=phone)
    [failed] = failed_sms(nrpc, member["id"])
    assert failed["attempts"] == tries and failed["retries"] == 0
    assert failed["retried_at"] is None

    requeued = nrpc.notifications.retry_delivery(failed["id"])
    assert requeued["id"] == failed["id"] and requeued["status"] == "pending"
    assert requeued["attempts"] == tries and requeued["retries"] == 1  # attempts keep counting
    assert requeued["retried_at"] and requeued["last_error"] == failed["last_error"]
    [sms] = wait_until(lambda: deliveries(nrpc, member["id"], channel="sms", status="sent"),
                       timeout=15, message="the retried SMS sent")
    assert sms["attempts"] == tries + 3 and sms["retries"] == 1
    assert sms["retried_at"] == requeued["retried_at"] and sms["sent_at"]
    assert len(sms_gateway.sent_to(e164)) == tries + 3
    # Once sent, it is not failed any more: retrying it again is a Conflict.
    error = remote_error(nrpc.notifications.retry_delivery, sms["id"])
    assert error.exc_type == "Conflict" and "sent" in error.value


def test_retry_failed_takes_every_failed_delivery_matching_its_filters(nrpc, sms_gateway):
    phone, e164 = new_phone()
    sms_gateway.failures[e164] = 99
    member = make_member(nrpc, phone=phone)  # registered and activated: two SMS, both fail
    failed = failed_sms(nrpc, member["id"], count=2)
    for filters, field in (({"channel": "fax"}, "channel"), ({"status": "failed"}, "status"),
                           ({"member_id": "x"}, "member_id"), ({"limit": 5}, "limit"),
                           ({"event_type": "member_updated"}, "event_type")):
        assert names_field(validation_fields(nrpc.notifications.retry_failed, filters), field)
    assert names_field(validation_fields(nrpc.notifications.retry_failed, "all"), "filters")
    assert nrpc.notifications.retry_failed({"member_id": member["id"], "channel": "email"}) == 0
    assert deliveries(nrpc, member["id"], channel="sms") == failed  # nothing written

    sms_gateway.failures[e164] = 0
    assert nrpc.notifications.retry_failed({"member_id": member["id"], "channel": "sms",
                                            "event_type": "member_activated"}) == 1
    [activated] = wait_until(lambda: deliveries(nrpc, member["id"], channel="sms",
                                                status="sent"), timeout=15)
    assert activated["event_type"] == "member_activated" and activated["retries"] == 1
    [still_failed] = deliveries(nrpc, member["id"], channel="sms", status="failed")
    assert still_failed["event_type"] == "member_registered" and still_failed["retries"] == 0
    assert nrpc.notifications.retry_failed({"member_id": member["id"]}) == 1
    wait_until(lambda: len(deliveries(nrpc, member["id"], channel="sms", status="sent")) == 2,
               timeout=15, message="both SMS sent")


# -- the RPC methods ------------------------------------------------------------------------------

def test_mark_read_takes_at_most_500_ids(nrpc):
    member = make_member(nrpc)
    [notice] = wait_for_inbox(nrpc, member["id"], "member_activated")
    too_many = [notice["id"]] + [str(uuid.uuid4()) for _ in range(500)]
    errors = validation_fields(nrpc.notifications.mark_read, member["id"], too_many)
    assert names_field(errors, "notification_ids")
    assert inbox(nrpc, member["id"], unread_only=True)[0]["id"] == notice["id"]  # not marked
    assert nrpc.notifications.mark_read(member["id"], too_many[:500]) == 1


def test_first_preferences_set_at_once_both_succeed(nrpc, base_config):
    from nameko.standalone.rpc import ClusterRpcProxy

    member_id = str(uuid.uuid4())

    def set_choice(choice):
        with ClusterRpcProxy(base_config, context_data=admin_context(), timeout=30) as own:
            return own.notifications.set_preferences(member_id, choice)

    results = list(eventlet.GreenPool(4).imap(
        set_choice, [{"email": False}, {"sms": False}, {"announcements": False}, {"sms": False}]))
    assert all(r["member_id"] == member_id for r in results)
    assert nrpc.notifications.get_preferences(member_id) == {
        "member_id": member_id, "email": False, "sms": False, "announcements": False}


def test_no_personal_data_reaches_the_services_log(notifications_service):
    log = notifications_service.log()
    assert "@example.id" not in log and "+62812" not in log


def test_applied_messages_are_forgotten_after_the_retention(notifications_db):
    """Notifications has no outbox relay to prune its processed_messages: a timer does
    (every second in the tests), keeping the last PROCESSED_RETENTION_DAYS (30)."""
    old, recent = str(uuid.uuid4()), str(uuid.uuid4())
    with notifications_db.begin() as connection:
        for event_id, days_ago in ((old, 31), (recent, 29)):
            connection.execute(sa.text(
                "INSERT INTO processed_messages (consumer, event_id, event_type, processed_at) "
                "VALUES ('prune-test', :event_id, 'member_registered', "
                "now() - make_interval(days => :days))"), {"event_id": event_id, "days": days_ago})

    def remembered():
        with notifications_db.connect() as connection:
            return set(connection.execute(sa.text(
                "SELECT event_id FROM processed_messages WHERE consumer = 'prune-test'")).scalars())

    wait_until(lambda: remembered() == {recent}, timeout=15, message="the old record pruned")
