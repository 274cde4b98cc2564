"""The membership state machine, in-process: every move the contract does not allow
is a Conflict that leaves the record as it was and records no message, from every
state; every allowed move records its message; expire_due lapses exactly the active
members past valid_until. Each test's members are the only ones it sees (its
transaction is rolled back), so counts are exact.

    pending --activate--> active --suspend--> suspended --reinstate--> active
    active --(valid_until passes)--> lapsed --renew--> active;  active --renew--> active
"""
from datetime import datetime, timedelta, timezone

import pytest

from services.members.domain import STATUSES
from services.members.service import MembersService
from shared.errors import Conflict
from tests.support.factories import member_data
from tests.support.usecases import InWorker

ACTIONS = ("activate", "suspend", "reinstate", "renew")
ALLOWED = {("pending", "activate"), ("active", "suspend"), ("suspended", "reinstate"),
           ("active", "renew"), ("lapsed", "renew")}
CONFLICTS = [(status, action) for status in STATUSES for action in ACTIONS
             if (status, action) not in ALLOWED]


@pytest.fixture
def members(session_of):
    return InWorker(MembersService, session_of("members"))


def move(members, action, member_id):
    method = getattr(members, action)
    return method(member_id, "Tidak membayar iuran") if action == "suspend" else method(member_id)


def a_day_after(*records):
    latest = max(datetime.fromisoformat(record["valid_until"]) for record in records)
    return (latest + timedelta(days=1)).isoformat()


def member_in(members, status):
    """A member in ``status``, reached through the allowed moves."""
    member = members.register(member_data())
    if status == "pending":
        return member
    member = members.activate(member["id"])
    if status == "suspended":
        return members.suspend(member["id"], "Audit keuangan")
    if status == "lapsed":
        members.expire_due(a_day_after(member))
        return members.get(member["id"])
    return member


@pytest.mark.parametrize("status, action", CONFLICTS, ids=[f"{s}-{a}" for s, a in CONFLICTS])
def test_a_move_the_contract_does_not_allow_is_a_conflict_that_changes_nothing(
        members, status, action):
    member = member_in(members, status)
    assert member["status"] == status
    stats, recorded = members.stats(), list(members.outbox.messages)

    with pytest.raises(Conflict) as raised:
        move(members, action, member["id"])

    assert f"cannot {action}" in str(raised.value) and status in str(raised.value)
    assert members.get(member["id"]) == member
    assert members.stats() == stats
    assert members.outbox.messages == recorded


def test_every_move_the_contract_allows_records_its_message(members):
    member = members.register(member_data())
    for action, status, event_type in [
            ("activate", "active", "member_activated"), ("renew", "active", "member_renewed"),
            ("suspend", "suspended", "member_suspended"),
            ("reinstate", "active", "member_reinstated")]:
        before = len(members.outbox.messages)
        changed = move(members, action, member["id"])
        assert changed["status"] == status
        [(recorded_type, data)] = members.outbox.messages[before:]
        assert recorded_type == event_type and data["id"] == member["id"]
        assert data["status"] == status


def test_expire_due_lapses_exactly_the_active_members_past_valid_until(members):
    lapsing = members.activate(members.register(member_data())["id"])
    suspended = members.suspend(
        members.activate(members.register(member_data())["id"])["id"], "Audit keuangan")
    pending = members.register(member_data())
    untouched = [suspended, pending]
    now = a_day_after(lapsing, suspended)  # past the suspended member's valid_until too
    before = len(members.outbox.messages)

    assert members.expire_due(now) == 1
    assert members.get(lapsing["id"])["status"] == "lapsed"
    for member in untouched:
        assert members.get(member["id"]) == member
    [(event_type, data)] = members.outbox.messages[before:]
    assert event_type == "member_lapsed" and data["id"] == lapsing["id"]

    # Lapsed already: a second run finds nothing to do and records nothing.
    assert members.expire_due(now) == 0
    assert len(members.outbox.messages) == before + 1


def test_expire_due_leaves_a_member_until_valid_until_then_renew_revives(members):
    member = members.activate(members.register(member_data())["id"])
    valid_until = datetime.fromisoformat(member["valid_until"])
    assert members.expire_due((valid_until - timedelta(seconds=1)).isoformat()) == 0
    assert members.get(member["id"])["status"] == "active"

    assert members.expire_due((valid_until + timedelta(days=1)).isoformat()) == 1
    assert members.get(member["id"])["status"] == "lapsed"
    with pytest.raises(Conflict):
        members.suspend(member["id"], "x")

    renewed = members.renew(member["id"])
    assert renewed["status"] == "active"
    # Lapsed in the past: the new year runs from now, not from the old end.
    assert datetime.fromisoformat(renewed["valid_until"]) > \
        datetime.now(timezone.utc) + timedelta(days=360)
