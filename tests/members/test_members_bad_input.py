"""Bad input of every kind, to every members method that takes input, gets a
ValidationError naming the field (or NotFound) and writes nothing: no record
changes, no count changes, no message is sent.

One table of (method, arguments, error, field); every row runs against the same few
members, checking the records and the stats before and after its call.
"""
import json
import uuid

import pytest

from tests.members.helpers import let_stray_messages_arrive, messages_about
from tests.support.calls import remote_error
from tests.support.factories import member_data

# In the name of every member this module registers (and of every registration it
# tries), so one list call shows them all and their messages are recognisable.
TAG = f"Badinput {uuid.uuid4().hex[:8]}"


class Ref:
    """A shared member's id, filled in when the row runs (rows are made at import)."""

    def __init__(self, state):
        self.state = state

    def __repr__(self):
        return f"<{self.state} member's id>"


PENDING, ACTIVE = Ref("pending"), Ref("active")

HUGE = "é" * 100_000  # 100,000 characters, 200 kB as UTF-8
UNKNOWN_ID = "6f1c1d4e-8b7a-4c2e-9a3b-000000000000"
NOT_A_DICT = {"str": "a string", "int": 42, "float": 4.2, "bool": True, "list": ["x"],
              "huge-str": HUGE}
WRONG_TYPES = {"int": 42, "float": 4.2, "bool": True, "false": False, "list": ["x"],
               "dict": {"x": "y"}, "none": None}
MALFORMED_IDS = {
    "word": "nope", "empty": "", "spaces": "   ", "int": 42, "float": 4.2, "none": None,
    "bool": True, "list": [UNKNOWN_ID], "dict": {"id": UNKNOWN_ID}, "huge": "1" * 100_000,
    "huge-unicode": HUGE, "bad-hex": "00000000-0000-0000-0000-00000000000g",
    "too-long": UNKNOWN_ID + "0", "truncated": UNKNOWN_ID[:-1], "sql": "' OR '1'='1",
    "nul": UNKNOWN_ID[:-1] + "\x00",
}
BAD_MEMBER_NUMBERS = {
    "digits": "12345", "empty": "", "int": 42, "none": None, "bool": True,
    "list": ["EKRAF-2026-000001"], "huge": HUGE, "five-digits": "EKRAF-2026-00001",
    "seven-digits": "EKRAF-2026-0000001", "lower-case": "ekraf-2026-000001",
    "leading-space": " EKRAF-2026-000001", "trailing-newline": "EKRAF-2026-000001\n",
    "arabic-digits": "EKRAF-٢٠٢٦-٠٠٠٠٠١", "sql": "EKRAF-2026-000001' OR '1'='1",
}
BAD_TIMES = {
    "word": "yesterday", "empty": "", "int": 12, "bool": True, "list": ["2026-11-28T03:00:00+00:00"],
    "dict": {"now": "2026-11-28T03:00:00+00:00"}, "huge": "2" * 100_000,
    "month-13": "2026-13-01T00:00:00+00:00", "before-1900": "1899-12-31T23:59:59+00:00",
    "after-9000": "9000-01-01T00:00:01+00:00", "year-1-at-plus-14": "0001-01-01T00:00:00+14:00",
    "surrogate": "2026-11-28T03:00:00\ud800",
    # No offset: refused rather than guessed (WITA? UTC?).
    "no-offset": "2030-11-28T09:00:00", "date-only": "2030-11-28",
}

REGISTER_TEXT_FIELDS = ("full_name", "email", "phone", "city", "subsector", "province",
                        "business_name", "nib", "locale")
PROFILE_FIELDS = ("full_name", "email", "phone", "city", "province", "business_name", "nib",
                  "locale")
REQUIRED_AT_REGISTRATION = ("full_name", "email", "phone", "city", "subsector")
NULLABLE = ("business_name", "nib")  # None clears them: not bad input
ID_METHODS = ("get", "activate", "reinstate", "renew")


def registration(**overrides):
    """Good registration data but for ``overrides``; the tag is in the name and the
    business name, so that whichever one a row spoils, list's ``q`` finds the other."""
    return member_data(**{"full_name": f"{TAG} Calon", "business_name": f"{TAG} Usaha",
                              **overrides})


def without(data, field):
    return {key: value for key, value in data.items() if key != field}


def build_rows():
    rows = []

    def row(name, method, args=(), kwargs=None, exc="ValidationError", field=None, target=None):
        rows.append(pytest.param(method, args, kwargs or {}, exc, field, target,
                                 id=f"{method}-{name}"))

    # register(data)
    for name, value in NOT_A_DICT.items():
        row(f"data-{name}", "register", (value,), field="data")
    row("data-list-of-dict", "register", ([registration()],), field="data")
    row("data-none", "register", (None,), field="full_name")  # None is {}: fields missing
    for unknown in ("status", "member_number", "id", "valid_until", "created_at", "colour"):
        row(f"unknown-{unknown}", "register",
            ({**registration(), unknown: "active"},), field=unknown)
    for missing in REQUIRED_AT_REGISTRATION:
        row(f"missing-{missing}", "register", (without(registration(), missing),),
            field=missing)
    for field in REGISTER_TEXT_FIELDS:
        for type_name, value in WRONG_TYPES.items():
            if value is None and field in NULLABLE:
                continue
            row(f"{field}-{type_name}", "register", (registration(**{field: value}),),
                field=field)
        row(f"{field}-100kB", "register", (registration(**{field: HUGE}),), field=field)
    row("no-arguments", "register", field="data")
    row("extra-argument", "register", (registration(), "extra"), field="_arguments")
    row("extra-keyword", "register", kwargs={"data": registration(), "extra": 1}, field="extra")

    # get(member_id), activate(member_id), reinstate(member_id), renew(member_id)
    for method in ID_METHODS:
        for name, value in MALFORMED_IDS.items():
            row(f"id-{name}", method, (value,), field="member_id")
        row("no-arguments", method, field="member_id")
        row("extra-argument", method, (ACTIVE, "extra"), field="_arguments", target=ACTIVE)
        row("extra-keyword", method, (ACTIVE,), {"colour": "red"}, field="colour",
            target=ACTIVE)
        row("id-twice", method, (ACTIVE,), {"member_id": ACTIVE}, field="member_id",
            target=ACTIVE)
        row("unknown-id", method, (UNKNOWN_ID,), exc="NotFound")

    # get_by_number(member_number)
    for name, value in BAD_MEMBER_NUMBERS.items():
        row(f"number-{name}", "get_by_number", (value,), field="member_number")
    row("no-arguments", "get_by_number", field="member_number")
    row("unknown-number", "get_by_number", ("EKRAF-1999-999999",), exc="NotFound")

    # list(filters)
    for name, value in NOT_A_DICT.items():
        row(f"filters-{name}", "list", (value,), field="filters")
    for unknown in ("colour", "email", "id", "order_by"):
        row(f"unknown-{unknown}", "list", ({unknown: "x"},), field=unknown)
    for field in ("subsector", "city", "status", "q", "cursor", "limit"):
        for type_name, value in WRONG_TYPES.items():
            if (field, type_name) in (("cursor", "none"), ("limit", "int")):
                continue  # no cursor: the first page; 42 is a good limit
            row(f"{field}-{type_name}", "list", ({field: value},), field=field)
        if field != "limit":
            row(f"{field}-100kB", "list", ({field: HUGE},), field=field)
    for name, value in {"zero": 0, "negative": -1, "over-200": 201, "string": "10",
                        "huge": 10 ** 30}.items():
        row(f"limit-{name}", "list", ({"limit": value},), field="limit")
    row("q-empty", "list", ({"q": ""},), field="q")
    row("cursor-forged", "list", ({"cursor": "not-a-cursor"},), field="cursor")
    row("extra-argument", "list", ({}, "extra"), field="_arguments")
    row("extra-keyword", "list", kwargs={"filters": {}, "colour": "red"}, field="colour")

    # update_profile(member_id, changes), on the active member
    for name, value in MALFORMED_IDS.items():
        row(f"id-{name}", "update_profile", (value, {"city": "Bontang"}), field="member_id")
    row("unknown-id", "update_profile", (UNKNOWN_ID, {"city": "Bontang"}), exc="NotFound")
    for name, value in {**NOT_A_DICT, "none": None, "empty": {}}.items():
        row(f"changes-{name}", "update_profile", (ACTIVE, value), field="changes",
            target=ACTIVE)
    for unknown in ("subsector", "status", "member_number", "id", "valid_until",
                    "active_since", "created_at", "updated_at", "colour"):
        row(f"unknown-{unknown}", "update_profile",
            (ACTIVE, {"city": "Bontang", unknown: "x"}), field=unknown, target=ACTIVE)
    for field in PROFILE_FIELDS:
        for type_name, value in WRONG_TYPES.items():
            if value is None and field in NULLABLE:
                continue
            row(f"{field}-{type_name}", "update_profile", (ACTIVE, {field: value}),
                field=field, target=ACTIVE)
        row(f"{field}-100kB", "update_profile", (ACTIVE, {field: HUGE}), field=field,
            target=ACTIVE)
    for field, value in {"full_name": "x", "email": "not-an-email", "phone": "12345",
                         "city": "", "province": "", "nib": "12345", "locale": "fr",
                         "business_name": ""}.items():
        row(f"{field}-invalid", "update_profile", (ACTIVE, {field: value}), field=field,
            target=ACTIVE)
    row("no-changes-argument", "update_profile", (ACTIVE,), field="changes", target=ACTIVE)
    row("extra-argument", "update_profile", (ACTIVE, {"city": "Bontang"}, "extra"),
        field="_arguments", target=ACTIVE)

    # suspend(member_id, reason), on the active member
    for name, value in MALFORMED_IDS.items():
        row(f"id-{name}", "suspend", (value, "Tidak membayar iuran"), field="member_id")
    row("unknown-id", "suspend", (UNKNOWN_ID, "Tidak membayar iuran"), exc="NotFound")
    for name, value in {**WRONG_TYPES, "empty": "", "spaces": "   ", "100kB": HUGE,
                        "nul": "iuran\x00", "surrogate": "iuran\ud800"}.items():
        row(f"reason-{name}", "suspend", (ACTIVE, value), field="reason", target=ACTIVE)
    row("no-reason", "suspend", (ACTIVE,), field="reason", target=ACTIVE)
    row("extra-argument", "suspend", (ACTIVE, "iuran", "extra"), field="_arguments",
        target=ACTIVE)

    # expire_due(now)
    for name, value in BAD_TIMES.items():
        row(f"now-{name}", "expire_due", (value,), field="now")
    row("extra-argument", "expire_due", (None, "extra"), field="_arguments")
    row("extra-keyword", "expire_due", kwargs={"colour": "red"}, field="colour")

    # stats() and list_subsectors() take nothing
    for method in ("stats", "list_subsectors"):
        row("extra-argument", method, ("x",), field="_arguments")
        row("extra-keyword", method, kwargs={"colour": "red"}, field="colour")
        row("none-argument", method, (None,), field="_arguments")
    return rows


ROWS = build_rows()


@pytest.fixture(scope="module")
def shared_members(rpc, member_messages):
    """A pending and an active member for every row; what the rows must leave as it is:
    the records, the stats and the messages about them so far."""
    pending = rpc.members.register(registration())
    active = rpc.members.register(registration())
    active = rpc.members.activate(active["id"])
    members = {"pending": pending, "active": active}
    member_messages.wait_for("member_registered", id=pending["id"])
    member_messages.wait_for("member_activated", id=active["id"])
    ids = {member["id"] for member in members.values()}
    return {"members": members, "ids": ids, "stats": rpc.members.stats(),
            "messages": len(messages_about(member_messages, ids)),
            "tagged_messages": len(tagged_messages(member_messages))}


def tagged_messages(message_log):
    """Messages about any member this module registered or tried to register."""
    return [m for m in list(message_log.messages)
            if TAG in f'{m["data"].get("full_name")} {m["data"].get("business_name")}']


def resolve(value, members):
    if isinstance(value, Ref):
        return members[value.state]["id"]
    if isinstance(value, tuple):
        return tuple(resolve(item, members) for item in value)
    if isinstance(value, dict):
        return {key: resolve(item, members) for key, item in value.items()}
    return value


@pytest.mark.parametrize("method, args, kwargs, exc_type, field, target", ROWS)
def test_bad_input_is_refused_and_writes_nothing(rpc, member_messages, shared_members,
                                                 method, args, kwargs, exc_type, field,
                                                 target):
    # Nothing happens between rows, so the state before this call is the one the
    # fixture (or the previous row) saw; reading it again would double the calls.
    members = shared_members["members"]
    args, kwargs = resolve(args, members), resolve(kwargs, members)
    messages_before = len(messages_about(member_messages, shared_members["ids"]))

    error = remote_error(lambda: getattr(rpc.members, method)(*args, **kwargs))

    stats, shared_members["stats"] = shared_members["stats"], rpc.members.stats()
    if target is not None:
        record = rpc.members.get(members[target.state]["id"])
        record_before, members[target.state] = members[target.state], record
        assert record == record_before
    assert error.exc_type == exc_type, (error.exc_type, error.value[:500])
    if exc_type == "ValidationError":
        fields = json.loads(error.value)
        assert field in fields, fields
        assert len(error.value) < 2_000  # the reason, not an echo of a 100 kB value
    assert shared_members["stats"] == stats
    assert len(messages_about(member_messages, shared_members["ids"])) == messages_before


def test_no_bad_input_sent_a_message_or_changed_a_member(rpc, member_messages, shared_members):
    """Once for the whole table: a message is relayed after the call's reply, and a
    registration of bad data would show under the tag."""
    let_stray_messages_arrive(rpc, member_messages)
    assert len(messages_about(member_messages, shared_members["ids"])) \
        == shared_members["messages"]
    assert len(tagged_messages(member_messages)) == shared_members["tagged_messages"]
    listed = rpc.members.list({"q": TAG, "limit": 200})["items"]
    assert sorted(listed, key=lambda m: m["id"]) \
        == sorted(shared_members["members"].values(), key=lambda m: m["id"])
