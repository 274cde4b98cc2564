"""The membership state machine over RPC: every move the contract does not allow is a
Conflict that leaves the record as it was and sends no message, from every state;
expire_due lapses only active members.

    pending --activate--> active --suspend--> suspended --reinstate--> active
    active --(valid_until passes)--> lapsed --renew--> active;  active --renew--> active
"""
from datetime import datetime, timedelta, timezone

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from services.members.domain import STATUSES
from tests.members.helpers import let_stray_messages_arrive, messages_about
from tests.support.broker import MEMBER_EVENTS
from tests.support.broker import listening
from tests.support.calls import remote_error
from tests.support.factories import member_data
from tests.support.services import running_service

ACTIONS = ("activate", "suspend", "reinstate", "renew")
ALLOWED = {("pending", "activate"), ("active", "suspend"), ("suspended", "reinstate"),
           ("active", "renew"), ("lapsed", "renew")}
CONFLICTS = [(status, action) for status in STATUSES for action in ACTIONS
             if (status, action) not in ALLOWED]


@pytest.fixture(scope="module")
def own_members(module_vhost_config, make_database, tmp_path_factory):
    """``(rpc, messages)``: a members service of this module's own (vhost and
    database), and a subscriber to it. expire_due here lapses every active member
    the service has: on the session's members, other tests' members too."""
    config = module_vhost_config
    with listening(config, "members", MEMBER_EVENTS) as messages, \
            running_service("members", config, make_database("members_state_machine"),
                            tmp_path_factory.mktemp("members_state_machine")), \
            ClusterRpcProxy(config, timeout=30) as rpc:
        yield rpc, messages


# These stand in for the session's fixtures of the same names, in this module only.
@pytest.fixture(scope="module")
def rpc(own_members):
    return own_members[0]


@pytest.fixture(scope="module")
def member_messages(own_members):
    return own_members[1]


def call(rpc, action, member_id):
    method = getattr(rpc.members, action)
    return method(member_id, "Tidak membayar iuran") if action == "suspend" else method(member_id)


def a_day_after(*members):
    latest = max(datetime.fromisoformat(member["valid_until"]) for member in members)
    return (latest + timedelta(days=1)).isoformat()


# First in this module on purpose: a `now` past these members' valid_until lapses
# every active member activated before them (on this module's own members service),
# the module's shared ones included.
def test_expire_due_lapses_only_active_members(rpc, member_messages):
    lapsing = rpc.members.activate(rpc.members.register(member_data())["id"])
    suspended = rpc.members.activate(rpc.members.register(member_data())["id"])
    suspended = rpc.members.suspend(suspended["id"], "Audit keuangan")
    pending = rpc.members.register(member_data())
    member_messages.wait_for("member_suspended", id=suspended["id"])
    member_messages.wait_for("member_registered", id=pending["id"])
    untouched = {m["id"]: m for m in (suspended, pending)}
    messages_before = len(messages_about(member_messages, set(untouched)))

    now = a_day_after(lapsing, suspended)  # past the suspended member's valid_until too
    assert rpc.members.expire_due(now) >= 1
    assert rpc.members.get(lapsing["id"])["status"] == "lapsed"
    for member_id, member in untouched.items():
        assert rpc.members.get(member_id) == member

    # Lapsed already: a second run finds nothing to do and sends nothing again.
    assert rpc.members.expire_due(now) == 0
    let_stray_messages_arrive(rpc, member_messages)
    assert len(member_messages.of_type("member_lapsed", id=lapsing["id"])) == 1
    assert len(messages_about(member_messages, set(untouched))) == messages_before


@pytest.fixture(scope="module")
def member_in(rpc, member_messages):
    """One member in each status, and how many messages about them had arrived."""
    lapsed = rpc.members.activate(rpc.members.register(member_data())["id"])
    rpc.members.expire_due(a_day_after(lapsed))  # before the active one is activated
    active = rpc.members.activate(rpc.members.register(member_data())["id"])
    suspended = rpc.members.activate(rpc.members.register(member_data())["id"])
    rpc.members.suspend(suspended["id"], "Audit keuangan")
    pending = rpc.members.register(member_data())
    members = {status: rpc.members.get(member["id"]) for status, member in
               {"pending": pending, "active": active, "suspended": suspended,
                "lapsed": lapsed}.items()}
    assert {status: m["status"] for status, m in members.items()} == \
        {status: status for status in STATUSES}
    let_stray_messages_arrive(rpc, member_messages)
    return {"members": members, "messages": len(messages_about(
        member_messages, {m["id"] for m in members.values()}))}


@pytest.mark.parametrize("status, action", CONFLICTS, ids=[f"{s}-{a}" for s, a in CONFLICTS])
def test_a_move_the_contract_does_not_allow_is_a_conflict_that_changes_nothing(
        rpc, member_messages, member_in, status, action):
    member = member_in["members"][status]
    stats = rpc.members.stats()

    error = remote_error(call, rpc, action, member["id"])

    assert error.exc_type == "Conflict", error
    assert f"cannot {action}" in error.value and status in error.value
    assert rpc.members.get(member["id"]) == member
    assert rpc.members.stats() == stats


def test_no_conflict_sent_a_message(rpc, member_messages, member_in):
    let_stray_messages_arrive(rpc, member_messages)
    members = member_in["members"]
    assert len(messages_about(member_messages, {m["id"] for m in members.values()})) \
        == member_in["messages"]
    for status, member in members.items():
        assert rpc.members.get(member["id"]) == member, status


def test_every_move_the_contract_allows_is_allowed(rpc, member_messages):
    """The other half of the table above: each allowed move, with its message."""
    member = rpc.members.register(member_data())
    for action, status, event_type in [
            ("activate", "active", "member_activated"), ("renew", "active", "member_renewed"),
            ("suspend", "suspended", "member_suspended"),
            ("reinstate", "active", "member_reinstated")]:
        assert call(rpc, action, member["id"])["status"] == status
        member_messages.wait_for(event_type, id=member["id"])


# Last in this module on purpose: its `now` a day past this member's valid_until lapses
# every active member of this module's own service (never the session's members).
def test_expire_due_lapses_members_past_valid_until_and_renew_revives(rpc, member_messages):
    member = rpc.members.activate(rpc.members.register(member_data())["id"])
    valid_until = datetime.fromisoformat(member["valid_until"])
    just_before = (valid_until - timedelta(seconds=1)).isoformat()
    rpc.members.expire_due(just_before)
    assert rpc.members.get(member["id"])["status"] == "active"

    later = (valid_until + timedelta(days=1)).isoformat()
    assert rpc.members.expire_due(later) >= 1
    assert rpc.members.get(member["id"])["status"] == "lapsed"
    member_messages.wait_for("member_lapsed", id=member["id"])
    assert remote_error(rpc.members.suspend, member["id"], "x").exc_type == "Conflict"

    renewed = rpc.members.renew(member["id"])
    assert renewed["status"] == "active"
    # Lapsed in the past: the new year runs from now, not from the old end.
    assert datetime.fromisoformat(renewed["valid_until"]) > \
        datetime.now(timezone.utc) + timedelta(days=360)
