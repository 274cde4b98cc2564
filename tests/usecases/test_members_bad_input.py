"""Bad input of every kind, to every members use case that takes input, gets a
ValidationError naming the field (or NotFound) and writes nothing: no record
changes, no count changes, no message is recorded.

One table of (method, arguments, error, field), each row called in-process on a
pending and an active member of its own. What the RPC layer adds (the arguments'
shape: too many, too few, unknown keywords) is tested over RPC in
tests/members/test_members_arguments.py.
"""
import pytest

from services.members.service import MembersService
from shared.errors import NotFound, ValidationError
from tests.support.bad_values import HUGE, MALFORMED_IDS, UNKNOWN_ID
from tests.support.factories import member_data
from tests.support.usecases import InWorker

TAG = "Badinput"  # in the name and business name of every registration a row makes


class Ref:
    """A shared member's id, filled in when the row runs (rows are made at import)."""

    def __init__(self, state):
        self.state = state

    def __repr__(self):
        return f"<{self.state} member's id>"


PENDING, ACTIVE = Ref("pending"), Ref("active")

NOT_A_DICT = {"str": "a string", "int": 42, "float": 4.2, "bool": True, "list": ["x"],
              "huge-str": HUGE}
WRONG_TYPES = {"int": 42, "float": 4.2, "bool": True, "false": False, "list": ["x"],
               "dict": {"x": "y"}, "none": None}
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

    # get(member_id), activate(member_id), reinstate(member_id), renew(member_id)
    for method in ID_METHODS:
        for name, value in MALFORMED_IDS.items():
            row(f"id-{name}", method, (value,), field="member_id")
        row("unknown-id", method, (UNKNOWN_ID,), exc="NotFound")

    # get_by_number(member_number)
    for name, value in BAD_MEMBER_NUMBERS.items():
        row(f"number-{name}", "get_by_number", (value,), field="member_number")
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

    # suspend(member_id, reason), on the active member
    for name, value in MALFORMED_IDS.items():
        row(f"id-{name}", "suspend", (value, "Tidak membayar iuran"), field="member_id")
    row("unknown-id", "suspend", (UNKNOWN_ID, "Tidak membayar iuran"), exc="NotFound")
    for name, value in {**WRONG_TYPES, "empty": "", "spaces": "   ", "100kB": HUGE,
                        "nul": "iuran\x00", "surrogate": "iuran\ud800"}.items():
        row(f"reason-{name}", "suspend", (ACTIVE, value), field="reason", target=ACTIVE)

    # expire_due(now)
    for name, value in BAD_TIMES.items():
        row(f"now-{name}", "expire_due", (value,), field="now")

    return rows


ROWS = build_rows()


@pytest.fixture
def members(session_of):
    return InWorker(MembersService, session_of("members"))


def resolve(value, existing):
    if isinstance(value, Ref):
        return existing[value.state]["id"]
    if isinstance(value, tuple):
        return tuple(resolve(item, existing) for item in value)
    if isinstance(value, dict):
        return {key: resolve(item, existing) for key, item in value.items()}
    return value


@pytest.mark.parametrize("method, args, kwargs, exc_type, field, target", ROWS)
def test_bad_input_is_refused_and_writes_nothing(members, method, args, kwargs, exc_type,
                                                 field, target):
    pending = members.register(registration())
    active = members.activate(members.register(registration())["id"])
    existing = {"pending": pending, "active": active}
    stats, recorded = members.stats(), list(members.outbox.messages)
    args, kwargs = resolve(args, existing), resolve(kwargs, existing)

    with pytest.raises({"ValidationError": ValidationError, "NotFound": NotFound}[exc_type]) \
            as raised:
        getattr(members, method)(*args, **kwargs)

    if exc_type == "ValidationError":
        assert field in raised.value.errors, raised.value.errors
        assert len(str(raised.value)) < 2_000  # the reason, not an echo of a 100 kB value
    assert members.stats() == stats
    for member in existing.values():
        assert members.get(member["id"]) == member
    assert members.outbox.messages == recorded
