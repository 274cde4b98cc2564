"""The notifications RPC methods in-process: the inbox (newest first, unread only,
pages, marking read only the member's own), preferences (defaults, partial changes),
the deliveries list (filters, pages), an operator's retries (``retry_delivery``'s
Conflict and NotFound, ``retry_failed``'s filters, never resending on a channel the
member has since turned off), ``delivery_counts`` and the prune of processed
messages. A test sees only its own rows, so every list and count is exact.

Deliveries fail here by the test's hand (as the delivery worker records a send that
failed for good); sending, retry timing and the timers themselves stay in
tests/notifications.
"""
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select, update

from services.notifications.models import Delivery
from shared.errors import Conflict, NotFound
from shared.tables import processed_messages
from tests.support.factories import member_record
from tests.support.samples import sample
from tests.support.usecases import activated, changed, hear, ids

DELIVERY_FIELDS = {"id", "member_id", "channel", "event_type", "status", "attempts",
                   "last_error", "created_at", "sent_at", "retries", "retried_at"}
NOTIFICATION_FIELDS = {"id", "member_id", "event_type", "subject", "body", "created_at",
                       "read_at"}


def joined(notifications, **overrides):
    """A member registered and activated, as members' two messages tell notifications:
    two notifications, six deliveries (in-app sent; email and SMS pending)."""
    record = member_record("pending", **overrides)
    hear(notifications, "members", "member_registered", record)
    record = activated(record)
    hear(notifications, "members", "member_activated", record)
    return record


def deliveries(notifications, **filters):
    return notifications.list_deliveries({"limit": 200, **filters})["items"]


def fail(notifications, *delivery_ids):
    """What the delivery worker writes when a send has failed after every retry."""
    notifications.session.execute(update(Delivery).where(Delivery.id.in_(delivery_ids)).values(
        status="failed", attempts=4, last_error="HTTPError: 503 Service Unavailable",
        next_attempt_at=None, locked_until=None))


def stored(notifications, delivery_id):
    return notifications.session.get(Delivery, delivery_id, populate_existing=True)


# -- the inbox ------------------------------------------------------------------------------

def test_the_inbox_is_the_members_own_newest_first_in_pages(notifications):
    member = joined(notifications)
    suspended = changed(member, minutes=2, status="suspended", reason="audit")
    hear(notifications, "members", "member_suspended", suspended)
    hear(notifications, "members", "member_reinstated",  # no notice: the directory only
         changed(suspended, status="active"))
    other = joined(notifications)

    everything = notifications.list_inbox(member["id"])
    assert [n["event_type"] for n in everything["items"]] == [
        "member_suspended", "member_activated", "member_registered"]
    assert everything["next_cursor"] is None
    assert {n["member_id"] for n in everything["items"]} == {member["id"]}
    assert all(set(n) == NOTIFICATION_FIELDS and n["read_at"] is None
               for n in everything["items"])
    assert [n["event_type"] for n in notifications.list_inbox(other["id"])["items"]] == [
        "member_activated", "member_registered"]
    assert notifications.list_inbox(str(uuid.uuid4())) == {"items": [], "next_cursor": None}
    assert notifications.list_inbox(member["id"].upper()) == everything  # one member, any case

    first = notifications.list_inbox(member["id"], {"limit": 1})
    second = notifications.list_inbox(member["id"], {"limit": 1, "cursor": first["next_cursor"]})
    third = notifications.list_inbox(member["id"], {"limit": 1, "cursor": second["next_cursor"]})
    assert third["next_cursor"] is None
    assert ids(first) + ids(second) + ids(third) == ids(everything)
    rest = notifications.list_inbox(member["id"], {"limit": 2, "cursor": first["next_cursor"]})
    assert ids(rest) == ids(everything)[1:] and rest["next_cursor"] is None


def test_inbox_pages_default_to_fifty(notifications):
    member = joined(notifications)
    for _ in range(49):  # 51 notifications in all
        hear(notifications, "certification", "certificate_issued",
             sample("certification", "certificate_issued", member_id=member["id"]))
    page = notifications.list_inbox(member["id"])
    assert len(page["items"]) == 50 and page["next_cursor"]
    last = notifications.list_inbox(member["id"], {"cursor": page["next_cursor"]})
    assert [n["event_type"] for n in last["items"]] == ["member_registered"]
    assert last["next_cursor"] is None


def test_mark_read_marks_only_the_members_own_unread_notifications(notifications):
    member, other = joined(notifications), joined(notifications)
    hear(notifications, "certification", "certificate_issued",
         sample("certification", "certificate_issued", member_id=member["id"]))
    issued, activated_notice, registered = notifications.list_inbox(member["id"])["items"]
    [others] = notifications.list_inbox(other["id"], {"limit": 1})["items"]

    assert notifications.mark_read(member["id"], []) == 0
    assert notifications.mark_read(member["id"], [str(uuid.uuid4())]) == 0
    assert notifications.mark_read(other["id"], [issued["id"]]) == 0  # not theirs
    assert notifications.mark_read(member["id"], [others["id"]]) == 0  # nor this
    assert notifications.mark_read(member["id"], [issued["id"].upper(), activated_notice["id"],
                                                  others["id"], issued["id"]]) == 2
    assert notifications.mark_read(member["id"], [issued["id"], activated_notice["id"]]) == 0

    unread = notifications.list_inbox(member["id"], {"unread_only": True})
    assert ids(unread) == [registered["id"]]
    inbox = notifications.list_inbox(member["id"])["items"]
    assert [n["read_at"] is not None for n in inbox] == [True, True, False]
    assert [{**n, "read_at": None} for n in inbox] == [issued, activated_notice, registered]
    assert notifications.list_inbox(member["id"], {"unread_only": False})["items"] == inbox
    assert [n["read_at"] for n in notifications.list_inbox(other["id"])["items"]] == [None, None]

    first = notifications.list_inbox(member["id"], {"unread_only": True, "limit": 1})
    assert ids(first) == [registered["id"]] and first["next_cursor"] is None


def test_mark_read_takes_five_hundred_ids(notifications):
    member = joined(notifications)
    notices = notifications.list_inbox(member["id"])["items"]
    given = [n["id"] for n in notices] + [str(uuid.uuid4()) for _ in range(498)]
    assert notifications.mark_read(member["id"], given) == 2
    assert notifications.list_inbox(member["id"], {"unread_only": True})["items"] == []


# -- preferences --------------------------------------------------------------------------

def test_preferences_start_with_everything_on_and_change_one_at_a_time(notifications):
    member_id, other_id = str(uuid.uuid4()), str(uuid.uuid4())
    defaults = {"member_id": member_id, "email": True, "sms": True, "announcements": True}
    assert notifications.get_preferences(member_id) == defaults
    assert notifications.get_preferences(member_id.upper()) == defaults

    assert notifications.set_preferences(member_id.upper(), {"email": False}) == {
        **defaults, "email": False}
    assert notifications.set_preferences(member_id, {"sms": False}) == {
        **defaults, "email": False, "sms": False}
    assert notifications.set_preferences(member_id, {"announcements": False,
                                                     "email": True}) == {
        **defaults, "sms": False, "announcements": False}
    assert notifications.set_preferences(member_id, {"sms": False}) == {  # again: the same
        **defaults, "sms": False, "announcements": False}
    assert notifications.get_preferences(member_id) == {
        **defaults, "sms": False, "announcements": False}
    assert notifications.get_preferences(other_id) == {**defaults, "member_id": other_id}
    assert notifications.set_preferences(member_id, {"email": True, "sms": True,
                                                     "announcements": True}) == defaults


# -- the deliveries list ------------------------------------------------------------------

def test_list_deliveries_filters_and_pages_oldest_first(notifications):
    member, other = joined(notifications), joined(notifications)
    mine = deliveries(notifications, member_id=member["id"])
    assert all(set(d) == DELIVERY_FIELDS for d in mine)
    # Oldest first; one message's deliveries share their time, and go by id.
    assert [d["event_type"] for d in mine] == ["member_registered"] * 3 + ["member_activated"] * 3
    assert {(d["event_type"], d["channel"], d["status"], d["attempts"]) for d in mine} == {
        ("member_registered", "in_app", "sent", 1), ("member_registered", "email", "pending", 0),
        ("member_registered", "sms", "pending", 0), ("member_activated", "in_app", "sent", 1),
        ("member_activated", "email", "pending", 0), ("member_activated", "sms", "pending", 0)}
    assert [(d["created_at"], d["id"]) for d in mine] == sorted(
        (d["created_at"], d["id"]) for d in mine)
    theirs = deliveries(notifications, member_id=other["id"])
    assert deliveries(notifications) == mine + theirs  # everything: only this test's
    assert notifications.list_deliveries() == {"items": mine + theirs, "next_cursor": None}

    def selected(**filters):
        return [d["id"] for d in deliveries(notifications, **filters)]

    def those(of, **wanted):
        return [d["id"] for d in of if all(d[key] == value for key, value in wanted.items())]

    assert selected(member_id=member["id"].upper()) == those(mine)
    assert selected(member_id=member["id"], channel="sms") == those(mine, channel="sms")
    assert len(those(mine, channel="sms")) == 2
    assert selected(member_id=member["id"], status="sent") == those(mine, channel="in_app")
    assert selected(member_id=member["id"], event_type="member_activated") == \
        those(mine, event_type="member_activated")
    assert selected(channel="email", event_type="member_registered") == \
        those(mine + theirs, channel="email", event_type="member_registered")
    assert len(those(mine + theirs, channel="email", event_type="member_registered")) == 2
    assert selected(status="failed") == []
    assert selected(member_id=str(uuid.uuid4())) == []
    assert selected(event_type="certificate_issued") == []

    pages, cursor = [], None
    while True:
        page = notifications.list_deliveries({"member_id": member["id"], "limit": 4,
                                              "cursor": cursor})
        pages.append(ids(page))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(page) for page in pages] == [4, 2]
    assert sum(pages, []) == [d["id"] for d in mine]

    [failed] = those(mine, channel="sms", event_type="member_registered")
    fail(notifications, failed)
    assert selected(status="failed") == [failed]
    assert selected(status="pending", channel="sms") == \
        those(mine, channel="sms", event_type="member_activated") + those(theirs, channel="sms")


def test_delivery_counts_by_channel_and_status(notifications):
    assert notifications.delivery_counts() == {}
    member = joined(notifications)
    joined(notifications, email=None)
    fail(notifications, *[d["id"] for d in deliveries(notifications, member_id=member["id"],
                                                     channel="sms")])
    assert notifications.delivery_counts() == {
        "in_app": {"sent": 4}, "email": {"pending": 2}, "sms": {"failed": 2, "pending": 2}}


# -- an operator's retries ----------------------------------------------------------------

def test_retry_delivery_requeues_a_failed_delivery_with_the_whole_schedule(notifications):
    member = joined(notifications)
    sms, other_sms = deliveries(notifications, member_id=member["id"], channel="sms")
    fail(notifications, sms["id"], other_sms["id"])
    [failed] = [d for d in deliveries(notifications, member_id=member["id"], channel="sms")
                if d["id"] == sms["id"]]

    requeued = notifications.retry_delivery(sms["id"].upper())
    assert requeued["retried_at"] is not None
    assert requeued == {**failed, "status": "pending", "retries": 1,
                        "retried_at": requeued["retried_at"]}  # attempts keep counting
    row = stored(notifications, sms["id"])
    assert (row.attempts, row.attempts_before_retry, row.locked_until) == (4, 4, None)
    assert row.next_attempt_at.isoformat() == requeued["retried_at"]  # due at once
    assert stored(notifications, other_sms["id"]).status == "failed"  # only the one asked for

    with pytest.raises(Conflict) as raised:
        notifications.retry_delivery(sms["id"])  # pending again: not failed any more
    assert str(raised.value) == (f"delivery {sms['id']} is pending: only a failed "
                                 "delivery can be retried")
    assert [d for d in deliveries(notifications, member_id=member["id"], channel="sms")
            if d["id"] == sms["id"]] == [requeued]


def test_retry_delivery_refuses_what_it_cannot_retry_and_changes_nothing(notifications):
    member = joined(notifications)
    by_channel = {d["channel"]: d for d in deliveries(notifications, member_id=member["id"],
                                                      event_type="member_activated")}
    in_app, email, sms = by_channel["in_app"], by_channel["email"], by_channel["sms"]
    fail(notifications, sms["id"])
    notifications.set_preferences(member["id"], {"sms": False})
    before = deliveries(notifications)

    refusals = [
        (in_app["id"], Conflict, f"delivery {in_app['id']} is sent: only a failed delivery "
                                 "can be retried"),
        (email["id"], Conflict, f"delivery {email['id']} is pending: only a failed delivery "
                                "can be retried"),
        (sms["id"], Conflict, f"delivery {sms['id']}: its member has since turned sms off"),
    ]
    unknown = str(uuid.uuid4())
    refusals.append((unknown, NotFound, f"no delivery {unknown}"))
    for delivery_id, error, message in refusals:
        with pytest.raises(error) as raised:
            notifications.retry_delivery(delivery_id)
        assert str(raised.value) == message
    assert deliveries(notifications) == before

    notifications.set_preferences(member["id"], {"email": False})  # not SMS: no matter
    notifications.set_preferences(member["id"], {"sms": True})
    assert notifications.retry_delivery(sms["id"])["status"] == "pending"


@pytest.fixture
def failures(notifications):
    """Two members' failed deliveries, by name; ``a-sms-registered`` made forty days ago.
    Every other delivery of theirs is sent (in-app) or pending."""
    a, b = joined(notifications), joined(notifications)

    def the(member, channel, event_type):
        [delivery] = deliveries(notifications, member_id=member["id"], channel=channel,
                                event_type=event_type)
        return delivery["id"]

    failed = {"a-sms-registered": the(a, "sms", "member_registered"),
              "a-sms-activated": the(a, "sms", "member_activated"),
              "a-email-activated": the(a, "email", "member_activated"),
              "b-sms-activated": the(b, "sms", "member_activated")}
    fail(notifications, *failed.values())
    notifications.session.execute(
        update(Delivery).where(Delivery.id == failed["a-sms-registered"])
        .values(created_at=datetime.now(timezone.utc) - timedelta(days=40)))
    return {"a": a["id"], "b": b["id"], **failed}


def requeued_by(notifications, filters, failures):
    """``retry_failed(filters)``'s count and the names of the failed deliveries it re-queued,
    checking that those are pending once more and the others untouched."""
    before = {d["id"]: d for d in deliveries(notifications)}
    count = notifications.retry_failed(filters)
    after = {d["id"]: d for d in deliveries(notifications)}
    names = {delivery_id: name for name, delivery_id in failures.items()
             if name not in ("a", "b")}
    requeued = sorted(names[i] for i in after if after[i] != before[i])
    for name in requeued:
        delivery = after[failures[name]]
        assert (delivery["status"], delivery["retries"], delivery["attempts"]) == (
            "pending", 1, 4)
    assert all(before[i]["status"] == "failed" for i in after if after[i] != before[i])
    return count, requeued


def resolve(filters, failures):
    return filters if not isinstance(filters, dict) else {
        key: failures[value] if key == "member_id" else value for key, value in filters.items()}


ALL = ["a-email-activated", "a-sms-activated", "a-sms-registered", "b-sms-activated"]


@pytest.mark.parametrize("filters, expected", [
    (None, ALL),
    ({}, ALL),
    ({"channel": "sms"}, ["a-sms-activated", "a-sms-registered", "b-sms-activated"]),
    ({"channel": "email"}, ["a-email-activated"]),
    ({"channel": "in_app"}, []),
    ({"member_id": "a"}, ["a-email-activated", "a-sms-activated", "a-sms-registered"]),
    ({"member_id": "b", "channel": "sms"}, ["b-sms-activated"]),
    ({"member_id": "b", "channel": "email"}, []),
    ({"event_type": "member_registered"}, ["a-sms-registered"]),
    ({"event_type": "member_activated", "channel": "sms"}, ["a-sms-activated",
                                                            "b-sms-activated"]),
    ({"event_type": "certificate_issued"}, []),
    # A day ago, in WITA: the forty-day-old failure is left alone.
    ({"created_after": "+08:00"}, ["a-email-activated", "a-sms-activated", "b-sms-activated"]),
    ({"created_after": "Z", "member_id": "a", "channel": "sms"}, ["a-sms-activated"]),
    ({"created_after": "future"}, []),
], ids=lambda value: None if isinstance(value, (list, type(None))) else str(value))
def test_retry_failed_requeues_every_failed_delivery_its_filters_match(notifications, failures,
                                                                       filters, expected):
    filters = resolve(filters, failures)
    if filters and "created_after" in filters:
        when = {"+08:00": datetime.now(timezone(timedelta(hours=8))) - timedelta(days=1),
                "Z": datetime.now(timezone.utc) - timedelta(days=39),
                "future": datetime.now(timezone.utc) + timedelta(minutes=1)}
        moment = when[filters["created_after"]]
        filters["created_after"] = (moment.isoformat().replace("+00:00", "Z"))
    assert requeued_by(notifications, filters, failures) == (len(expected), expected)
    assert notifications.retry_failed(filters) == 0  # re-queued: not failed any more


def test_retry_failed_never_resends_on_a_channel_the_member_has_turned_off(notifications,
                                                                            failures):
    notifications.set_preferences(failures["b"], {"sms": False})
    notifications.set_preferences(failures["a"], {"email": False, "announcements": False})
    assert requeued_by(notifications, {}, failures) == (
        2, ["a-sms-activated", "a-sms-registered"])
    assert requeued_by(notifications, {"member_id": failures["b"]}, failures) == (0, [])

    notifications.set_preferences(failures["b"], {"sms": True})
    assert requeued_by(notifications, {"channel": "sms"}, failures) == (1, ["b-sms-activated"])
    notifications.set_preferences(failures["a"], {"email": True})
    assert requeued_by(notifications, None, failures) == (1, ["a-email-activated"])


# -- the prune timer's work -------------------------------------------------------------------

def test_processed_messages_older_than_the_retention_are_forgotten(notifications):
    joined(notifications)  # two messages the handlers recorded just now
    now = datetime.now(timezone.utc)
    old, recent = str(uuid.uuid4()), str(uuid.uuid4())
    notifications.session.execute(insert(processed_messages), [
        {"consumer": "prune-test", "event_id": old, "event_type": "member_registered",
         "processed_at": now - timedelta(days=30, minutes=1)},
        {"consumer": "prune-test", "event_id": recent, "event_type": "member_registered",
         "processed_at": now - timedelta(days=29, hours=23)}])
    kept = set(notifications.session.scalars(select(processed_messages.c.event_id))) - {old}

    notifications.prune_processed_messages()  # PROCESSED_RETENTION_DAYS: 30
    assert set(notifications.session.scalars(select(processed_messages.c.event_id))) == kept
    assert len(kept) == 3 and recent in kept
