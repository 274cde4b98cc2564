"""Bad input of every kind, to every notifications RPC method, gets a ValidationError
naming the field and changes nothing: the directory, preferences, inbox, deliveries
and processed messages are exactly as before, to the last column.

One table of (method, arguments, field), each row called in-process against a member
of its own: known to the directory, two notifications in the inbox, preferences
chosen, and one failed SMS (which a ``retry_failed`` that let bad filters through
would re-queue). What the RPC layer adds (the arguments' shape, the error reaching
a caller as JSON) stays in tests/notifications.
"""
import uuid

import pytest
from sqlalchemy import update

from services.notifications.models import Delivery
from shared.errors import ValidationError
from shared.schemas import encode_cursor
from tests.support.bad_values import HUGE, MALFORMED_IDS, UNKNOWN_ID
from tests.support.factories import member_record
from tests.support.usecases import activated, hear, notifications_rows


class Ref:
    """An id of the row's own records, filled in when the row runs."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<the {self.name}'s id>"


MEMBER, NOTIFICATION, FAILED = Ref("member"), Ref("notification"), Ref("failed delivery")

NOT_A_DICT = {"str": "all", "int": 42, "bool": True, "list": [{"limit": 5}], "huge": HUGE}
NOT_BOOLEANS = {"str": "yes", "str-true": "true", "one": 1, "zero": 0, "none": None,
                "list": [True], "dict": {"on": True}}
BAD_LIMITS = {"zero": 0, "negative": -1, "above-200": 201, "str": "10", "bool": True,
              "float": 4.2, "none": None}
BAD_CURSORS = {
    "not-base64-json": "zz", "int": 5, "list": ["x"], "huge": "A" * 600,
    "wrong-length": encode_cursor(["2026-11-28T03:00:00+00:00"]),
    "forged-time": encode_cursor(["yesterday", UNKNOWN_ID]),
    "forged-year-1": encode_cursor(["0001-01-01T00:00:00+14:00", UNKNOWN_ID]),
    "forged-id": encode_cursor(["2026-11-28T03:00:00+00:00", "x\x00y"]),
    "forged-int-id": encode_cursor(["2026-11-28T03:00:00+00:00", 5]),
}
BAD_TIMES = {
    "word": "yesterday", "empty": "", "int": 5, "bool": True, "none": None,
    "list": ["2026-11-28T03:00:00+00:00"], "huge": "2" * 100_000,
    "month-13": "2026-13-01T00:00:00+00:00", "before-1900": "1899-12-31T23:59:59+00:00",
    "after-9000": "9000-01-01T00:00:01+00:00", "year-1-at-plus-14": "0001-01-01T00:00:00+14:00",
    # No offset: refused rather than guessed (WITA? UTC?).
    "no-offset": "2026-11-28T10:00:00", "date-only": "2026-11-28",
}
BAD_CHANNELS = {"fax": "fax", "push": "push", "upper": "SMS", "empty": "", "none": None, "int": 5}
BAD_EVENT_TYPES = {"anything": "anything", "no-notices": "member_updated",
                   "no-notices-2": "member_reinstated", "nul": "a\x00b", "none": None,
                   "int": 5, "upper": "MEMBER_ACTIVATED"}


def build_rows():
    rows = []

    def row(name, method, args, field):
        rows.append(pytest.param(method, args, field, id=f"{method}-{name}"))

    # list_inbox(member_id, filters)
    for name, value in MALFORMED_IDS.items():
        row(f"member_id-{name}", "list_inbox", (value, None), "member_id")
    for name, value in NOT_A_DICT.items():
        row(f"filters-{name}", "list_inbox", (MEMBER, value), "filters")
    for name, value in NOT_BOOLEANS.items():
        row(f"unread_only-{name}", "list_inbox", (MEMBER, {"unread_only": value}), "unread_only")
    for name, value in BAD_LIMITS.items():
        row(f"limit-{name}", "list_inbox", (MEMBER, {"limit": value}), "limit")
    for name, value in BAD_CURSORS.items():
        row(f"cursor-{name}", "list_inbox", (MEMBER, {"cursor": value}), "cursor")
    for unknown in ("sort", "member_id", "status", "read"):
        row(f"unknown-{unknown}", "list_inbox", (MEMBER, {unknown: "x"}), unknown)

    # mark_read(member_id, notification_ids)
    for name, value in MALFORMED_IDS.items():
        row(f"member_id-{name}", "mark_read", (value, [NOTIFICATION]), "member_id")
    for name, value in {"str": "all", "none": None, "int": 42, "bool": True,
                        "dict": {"id": NOTIFICATION}, "one-id": NOTIFICATION}.items():
        row(f"ids-{name}", "mark_read", (MEMBER, value), "notification_ids")
    row("ids-501", "mark_read", (MEMBER, [NOTIFICATION] + [str(uuid.uuid4()) for _ in range(500)]),
        "notification_ids")
    for name, value in MALFORMED_IDS.items():
        # A good id first: nothing is marked when any id is bad.
        row(f"second-id-{name}", "mark_read", (MEMBER, [NOTIFICATION, value]),
            "notification_ids.1")

    # get_preferences(member_id)
    for name, value in MALFORMED_IDS.items():
        row(f"member_id-{name}", "get_preferences", (value,), "member_id")

    # set_preferences(member_id, data)
    for name, value in MALFORMED_IDS.items():
        row(f"member_id-{name}", "set_preferences", (value, {"email": True}), "member_id")
    for name, value in {**NOT_A_DICT, "empty": {}, "none": None}.items():
        row(f"data-{name}", "set_preferences", (MEMBER, value), "data")
    for choice in ("email", "sms", "announcements"):
        for name, value in NOT_BOOLEANS.items():
            row(f"{choice}-{name}", "set_preferences", (MEMBER, {choice: value}), choice)
    for unknown in ("push", "in_app", "member_id", "Email"):
        row(f"unknown-{unknown}", "set_preferences", (MEMBER, {unknown: True}), unknown)
    # A good choice beside a bad one: neither is applied.
    row("good-and-bad", "set_preferences", (MEMBER, {"email": True, "sms": "no"}), "sms")
    row("good-and-unknown", "set_preferences", (MEMBER, {"email": True, "push": True}), "push")

    # list_deliveries(filters)
    for name, value in NOT_A_DICT.items():
        row(f"filters-{name}", "list_deliveries", (value,), "filters")
    for name, value in MALFORMED_IDS.items():
        row(f"member_id-{name}", "list_deliveries", ({"member_id": value},), "member_id")
    for name, value in {"lost": "lost", "queued": "queued", "upper": "FAILED", "empty": "",
                        "none": None, "int": 5}.items():
        row(f"status-{name}", "list_deliveries", ({"status": value},), "status")
    for name, value in BAD_CHANNELS.items():
        row(f"channel-{name}", "list_deliveries", ({"channel": value},), "channel")
    for name, value in BAD_EVENT_TYPES.items():
        row(f"event_type-{name}", "list_deliveries", ({"event_type": value},), "event_type")
    for name, value in BAD_LIMITS.items():
        row(f"limit-{name}", "list_deliveries", ({"limit": value},), "limit")
    for name, value in BAD_CURSORS.items():
        row(f"cursor-{name}", "list_deliveries", ({"cursor": value},), "cursor")
    for unknown in ("created_after", "colour", "sort", "recipient"):
        row(f"unknown-{unknown}", "list_deliveries", ({unknown: "x"},), unknown)

    # retry_delivery(delivery_id)
    for name, value in MALFORMED_IDS.items():
        row(f"delivery_id-{name}", "retry_delivery", (value,), "delivery_id")

    # retry_failed(filters): every bad one leaves the failed SMS failed
    for name, value in NOT_A_DICT.items():
        row(f"filters-{name}", "retry_failed", (value,), "filters")
    for name, value in MALFORMED_IDS.items():
        row(f"member_id-{name}", "retry_failed", ({"member_id": value},), "member_id")
    for name, value in BAD_CHANNELS.items():
        row(f"channel-{name}", "retry_failed", ({"channel": value},), "channel")
    for name, value in BAD_EVENT_TYPES.items():
        row(f"event_type-{name}", "retry_failed", ({"event_type": value},), "event_type")
    for name, value in BAD_TIMES.items():
        row(f"created_after-{name}", "retry_failed", ({"created_after": value},),
            "created_after")
    # List filters that retry_failed does not take (it re-queues every failed one).
    for unknown, value in (("status", "failed"), ("limit", 5), ("cursor", "zz"),
                           ("colour", "red")):
        row(f"unknown-{unknown}", "retry_failed", ({unknown: value},), unknown)
    # A good filter beside a bad one.
    row("member-and-bad-channel", "retry_failed", ({"member_id": MEMBER, "channel": "fax"},),
        "channel")
    return rows


ROWS = build_rows()


def resolve(value, ids):
    if isinstance(value, Ref):
        return ids[value.name]
    if isinstance(value, (tuple, list)):
        return type(value)(resolve(item, ids) for item in value)
    if isinstance(value, dict):
        return {key: resolve(item, ids) for key, item in value.items()}
    return value


@pytest.mark.parametrize("method, args, field", ROWS)
def test_bad_input_is_refused_naming_the_field_and_changes_nothing(notifications, method, args,
                                                                   field):
    pending = member_record("pending")
    hear(notifications, "members", "member_registered", pending)
    hear(notifications, "members", "member_activated", activated(pending))
    notifications.set_preferences(pending["id"], {"announcements": False})
    [sms] = notifications.list_deliveries({"member_id": pending["id"], "channel": "sms",
                                           "event_type": "member_registered"})["items"]
    notifications.session.execute(update(Delivery).where(Delivery.id == sms["id"]).values(
        status="failed", attempts=4, last_error="HTTPError: 503", next_attempt_at=None))
    notice = notifications.list_inbox(pending["id"], {"limit": 1})["items"][0]
    ids = {"member": pending["id"], "notification": notice["id"], "failed delivery": sms["id"]}
    before = notifications_rows(notifications)
    assert len(before["deliveries"]) == 6 and len(before["notifications"]) == 2

    with pytest.raises(ValidationError) as raised:
        getattr(notifications, method)(*resolve(args, ids))

    assert field in raised.value.errors, raised.value.errors
    assert len(str(raised.value)) < 2_000  # the reason, not an echo of a 100 kB value
    assert notifications_rows(notifications) == before
