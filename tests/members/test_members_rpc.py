"""Every members method through a real RPC client, against the real broker and database."""
import uuid
from datetime import datetime, timedelta, timezone

import eventlet
import pytest
import sqlalchemy as sa
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from shared.errors import ContractError
from shared.subsectors import SUBSECTORS
from tests.support.calls import remote_error, validation_fields
from tests.support.factories import member_data
from tests.support.identities import admin_context


@pytest.fixture
def member(rpc):
    return rpc.members.register(member_data())


@pytest.fixture
def active_member(rpc, member):
    return rpc.members.activate(member["id"])


def parse_time(value):
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0), value
    return parsed


# -- list_subsectors, register, get --------------------------------------------

def test_list_subsectors_gives_the_17_with_both_names(rpc):
    subsectors = rpc.members.list_subsectors()
    assert len(subsectors) == 17
    assert {s["code"] for s in subsectors} == set(SUBSECTORS)
    kuliner = next(s for s in subsectors if s["code"] == "kuliner")
    assert kuliner == {"code": "kuliner", "name_id": "Kuliner", "name_en": "Culinary"}


def test_register_creates_a_pending_member_with_normalised_fields(rpc, member_messages):
    data = member_data(email="Budi.Santoso@Example.COM", phone="+62 813 5000 1234",
                           business_name="Kopi Teras", nib="1234567890123", locale="en",
                           city="Samarinda", subsector="fotografi")
    member = rpc.members.register(data)
    uuid.UUID(member["id"])
    assert member["status"] == "pending"
    assert member["member_number"] is None
    assert member["email"] == "budi.santoso@example.com"
    assert member["phone"] == "+6281350001234"
    assert member["province"] == "Kalimantan Timur"
    assert member["locale"] == "en"
    assert member["active_since"] is None and member["valid_until"] is None
    assert set(member) == {"id", "member_number", "full_name", "email", "phone", "city",
                           "province", "subsector", "business_name", "nib", "locale",
                           "status", "active_since", "valid_until", "created_at", "updated_at"}
    parse_time(member["created_at"])
    assert rpc.members.get(member["id"]) == member
    [message] = member_messages.wait_for("member_registered", id=member["id"])
    assert message["data"] == member
    assert message["producer"] == "members"
    assert message["schema_version"] == 1
    uuid.UUID(message["event_id"])
    parse_time(message["occurred_at"])


def test_register_defaults_locale_to_bahasa_indonesia(member):
    assert member["locale"] == "id"
    assert member["business_name"] is None and member["nib"] is None


def test_email_is_unique_case_insensitively(rpc, member):
    error = remote_error(rpc.members.register, member_data(email=member["email"].upper()))
    assert error.exc_type == "Conflict"


@pytest.mark.parametrize("field, value", [
    ("full_name", "A"), ("full_name", "x" * 121), ("full_name", 42), ("full_name", None),
    ("email", "not-an-email"), ("email", ["a@b.c"]),
    ("phone", "12345"), ("phone", "+1 202 555 0100"), ("phone", "0812abc45678"),
    ("city", ""), ("subsector", "astrology"), ("subsector", "KULINER"),
    ("nib", "12345"), ("nib", "12345678901234"), ("nib", "abcdefghijklm"),
    ("locale", "fr"), ("business_name", "x" * 100_000), ("full_name", "Nul\x00byte"),
])
def test_register_rejects_bad_fields_by_name_and_writes_nothing(rpc, field, value):
    before = rpc.members.stats()["total"]
    errors = validation_fields(rpc.members.register, member_data(**{field: value}))
    assert field in errors
    assert rpc.members.stats()["total"] == before


def test_register_rejects_missing_and_unknown_fields(rpc):
    errors = validation_fields(rpc.members.register, {"full_name": "Ani", "status": "active"})
    assert errors["status"] == ["Unknown field."]
    for required in ("email", "phone", "city", "subsector"):
        assert required in errors


@pytest.mark.parametrize("data", ["a string", 42, ["list"], None, True])
def test_register_rejects_data_that_is_not_a_dict(rpc, data):
    errors = validation_fields(rpc.members.register, data)
    assert errors  # names "data", or the missing fields when data is None
    if data is not None:
        assert "data" in errors


def test_register_rejects_a_100kb_string_everywhere(rpc):
    huge = "é" * 100_000
    for field in ("full_name", "email", "phone", "city", "subsector", "business_name", "nib"):
        assert field in validation_fields(rpc.members.register, member_data(**{field: huge}))


@pytest.mark.parametrize("bad_id", ["nope", "", 42, None, "1" * 100_000,
                                    "00000000-0000-0000-0000-00000000000g"])
def test_malformed_ids_are_validation_errors(rpc, bad_id):
    for method in ("get", "activate", "reinstate", "renew"):
        assert "member_id" in validation_fields(getattr(rpc.members, method), bad_id)


@pytest.mark.parametrize("field", ["full_name", "city", "business_name", "email"])
def test_unpaired_surrogates_are_validation_errors(rpc, field):
    value = "Ab\ud800cd@example.com" if field == "email" else "Ab\ud800cd"
    assert field in validation_fields(rpc.members.register, member_data(**{field: value}))


def test_malformed_ids_in_suspend_and_update_profile(rpc):
    assert "member_id" in validation_fields(rpc.members.suspend, "nope", "reason")
    assert "member_id" in validation_fields(rpc.members.update_profile, 42, {"city": "Bontang"})


def test_unknown_methods_are_not_found(rpc):
    assert remote_error(rpc.members.delete_everything).exc_type == "NotFound"


def test_unknown_ids_are_not_found(rpc):
    missing = str(uuid.uuid4())
    for method in ("get", "activate", "reinstate", "renew"):
        error = remote_error(getattr(rpc.members, method), missing)
        assert error.exc_type == "NotFound"
    assert remote_error(rpc.members.suspend, missing, "reason").exc_type == "NotFound"
    assert remote_error(rpc.members.update_profile, missing,
                        {"city": "Samarinda"}).exc_type == "NotFound"


def test_wrong_number_of_arguments_is_a_validation_error(rpc):
    assert "member_id" in validation_fields(rpc.members.get)
    error = remote_error(rpc.members.get, str(uuid.uuid4()), "extra")
    assert error.exc_type == "ValidationError"


# -- activation and member numbers ----------------------------------------------

def test_activate_assigns_number_and_twelve_months(rpc, member, member_messages):
    active = rpc.members.activate(member["id"])
    assert active["status"] == "active"
    year = datetime.now(timezone.utc).year
    assert active["member_number"].startswith(f"EKRAF-{year}-")
    assert len(active["member_number"]) == len("EKRAF-2026-000001")
    since, until = parse_time(active["active_since"]), parse_time(active["valid_until"])
    assert abs(since - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert until.year == since.year + 1 and until.month == since.month
    assert rpc.members.get_by_number(active["member_number"]) == active
    [message] = member_messages.wait_for("member_activated", id=member["id"])
    assert message["data"]["member_number"] == active["member_number"]


def test_get_by_number_errors(rpc):
    assert "member_number" in validation_fields(rpc.members.get_by_number, "12345")
    assert remote_error(rpc.members.get_by_number, "EKRAF-1999-999999").exc_type == "NotFound"


def test_twenty_concurrent_activations_get_twenty_distinct_numbers(rpc, base_config):
    members = [rpc.members.register(member_data()) for _ in range(20)]

    def activate(member_id):
        with ClusterRpcProxy(base_config, context_data=admin_context(), timeout=60) as own_proxy:
            return own_proxy.members.activate(member_id)

    pool = eventlet.GreenPool(20)
    activated = list(pool.imap(activate, [m["id"] for m in members]))
    numbers = [m["member_number"] for m in activated]
    assert len(set(numbers)) == 20
    assert all(m["status"] == "active" for m in activated)


def test_concurrent_activations_of_one_member_succeed_once(rpc, base_config, member):
    def activate(_):
        with ClusterRpcProxy(base_config, context_data=admin_context(), timeout=60) as own_proxy:
            try:
                return own_proxy.members.activate(member["id"])["member_number"]
            except (RemoteError, ContractError) as error:
                return type(error).__name__

    results = list(eventlet.GreenPool(5).imap(activate, range(5)))
    assert results.count("Conflict") == 4
    assert rpc.members.get(member["id"])["member_number"] in results


# -- the state machine ----------------------------------------------------------

def test_suspend_and_reinstate(rpc, active_member, member_messages):
    suspended = rpc.members.suspend(active_member["id"], "Tidak membayar iuran")
    assert suspended["status"] == "suspended"
    [message] = member_messages.wait_for("member_suspended", id=active_member["id"])
    assert message["data"]["reason"] == "Tidak membayar iuran"
    reinstated = rpc.members.reinstate(active_member["id"])
    assert reinstated["status"] == "active"
    assert reinstated["member_number"] == active_member["member_number"]
    member_messages.wait_for("member_reinstated", id=active_member["id"])


def test_suspend_needs_a_reason(rpc, active_member):
    assert "reason" in validation_fields(rpc.members.suspend, active_member["id"], "")
    assert "reason" in validation_fields(rpc.members.suspend, active_member["id"], 42)
    assert rpc.members.get(active_member["id"])["status"] == "active"


@pytest.mark.parametrize("action", ["suspend", "reinstate", "renew"])
def test_pending_member_cannot_be_moved_except_by_activation(rpc, member, action):
    args = (member["id"], "reason") if action == "suspend" else (member["id"],)
    assert remote_error(getattr(rpc.members, action), *args).exc_type == "Conflict"
    assert rpc.members.get(member["id"])["status"] == "pending"


def test_other_transitions_are_conflicts(rpc, active_member):
    member_id = active_member["id"]
    assert remote_error(rpc.members.activate, member_id).exc_type == "Conflict"
    assert remote_error(rpc.members.reinstate, member_id).exc_type == "Conflict"
    rpc.members.suspend(member_id, "audit")
    assert remote_error(rpc.members.suspend, member_id, "again").exc_type == "Conflict"
    assert remote_error(rpc.members.renew, member_id).exc_type == "Conflict"
    assert remote_error(rpc.members.activate, member_id).exc_type == "Conflict"


def test_renew_extends_from_the_later_of_now_and_valid_until(rpc, active_member, member_messages):
    renewed = rpc.members.renew(active_member["id"])
    before = parse_time(active_member["valid_until"])
    after = parse_time(renewed["valid_until"])
    assert after.year == before.year + 1 and after.month == before.month
    assert renewed["status"] == "active"
    member_messages.wait_for("member_renewed", id=active_member["id"])


def test_the_timer_lapses_members_past_valid_until_by_itself(
        rpc, active_member, members_db, member_messages):
    with members_db.begin() as connection:
        connection.execute(
            sa.text("UPDATE members SET valid_until = :past WHERE id = :id"),
            {"past": datetime.now(timezone.utc) - timedelta(minutes=1), "id": active_member["id"]})
    [message] = member_messages.wait_for("member_lapsed", id=active_member["id"], timeout=10)
    assert message["data"]["status"] == "lapsed"
    assert rpc.members.get(active_member["id"])["status"] == "lapsed"


def test_expire_due_rejects_a_bad_time(rpc):
    for bad in ("yesterday", 12, "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-10:00",
                "2026-11-28T03:00:00\ud800"):
        assert "now" in validation_fields(rpc.members.expire_due, bad)


def test_expire_due_without_now_leaves_current_members_alone(rpc, active_member):
    rpc.members.expire_due()
    assert rpc.members.get(active_member["id"])["status"] == "active"


# -- update_profile ---------------------------------------------------------------

def test_update_profile_changes_allowed_fields_and_publishes(rpc, member, member_messages):
    updated = rpc.members.update_profile(member["id"], {
        "city": "Samarinda", "phone": "0541 123456", "locale": "en",
        "business_name": "Tenun Ulap Doyo", "nib": "9876543210123"})
    assert updated["city"] == "Samarinda"
    assert updated["phone"] == "+62541123456"
    assert updated["business_name"] == "Tenun Ulap Doyo"
    assert updated["locale"] == "en"
    assert rpc.members.get(member["id"]) == updated
    [message] = member_messages.wait_for("member_updated", id=member["id"])
    assert message["data"]["city"] == "Samarinda"


@pytest.mark.parametrize("changes, field", [
    ({"subsector": "musik"}, "subsector"), ({"status": "active"}, "status"),
    ({"member_number": "EKRAF-2026-000001"}, "member_number"), ({"id": "x"}, "id"),
    ({"email": None}, "email"), ({"full_name": "x"}, "full_name"), ({}, "changes"),
])
def test_update_profile_rejects_other_fields_and_changes_nothing(rpc, member, changes, field):
    assert field in validation_fields(rpc.members.update_profile, member["id"], changes)
    assert rpc.members.get(member["id"]) == member


def test_update_profile_email_must_stay_unique(rpc, member):
    other = rpc.members.register(member_data())
    error = remote_error(rpc.members.update_profile, member["id"], {"email": other["email"]})
    assert error.exc_type == "Conflict"
    assert rpc.members.get(member["id"])["email"] == member["email"]


# -- list and stats ----------------------------------------------------------------

def test_list_searches_business_name_and_escapes_wildcards(rpc):
    tag = uuid.uuid4().hex[:8]
    member = rpc.members.register(member_data(business_name=f"Amplang {tag} Snack"))
    assert [m["id"] for m in rpc.members.list({"q": f"amplang {tag}"})["items"]] == [member["id"]]
    assert rpc.members.list({"q": f"{tag}%"})["items"] == []
