"""The audit trail and the envelope's actor, on the running services: who changed
what (in the change's own transaction), who was refused and why, read through
``audit_log``'s filters and pages, and never edited."""
import json
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from shared.registry import end_service_identity, start_service_identity
from tests.identities.calling import (
    UNKNOWN_TOKEN, calling_as, forbidden, forged, wait_for_next_second,
)
from tests.support.calls import remote_error
from tests.support.factories import make_member, member_data
from tests.support.identities import client_name, new_client, registry_engine
from tests.support.waiting import wait_until


def trail(rpc, **filters):
    return rpc.members.audit_log(filters)["items"]


def one_entry(rpc, **filters):
    """The single entry ``filters`` find, once it is written (refusals are written
    just after the answer)."""
    entries = wait_until(lambda: trail(rpc, **filters), message=f"an audit entry {filters}")
    assert len(entries) == 1, entries
    return entries[0]


def xmin(engine, table, row_id):
    """The PostgreSQL transaction that wrote a row last."""
    with engine.connect() as connection:
        return connection.execute(sa.text(f"SELECT xmin::text FROM {table} WHERE id = :id"),
                                  {"id": row_id}).scalar_one()


def just_now():
    """A ``since`` that takes in what happens from now on (the trail's times are whole
    seconds)."""
    return (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()


def test_a_change_is_recorded_with_its_client_and_person_in_its_own_transaction(
        base_config, rpc, members_db):
    registrar = new_client(["registrar"], user_id="rina")
    name = client_name(registrar)
    with calling_as(base_config, registrar) as proxy:
        member = proxy.members.register(member_data())
    # Read at once, not waited for: the entry committed before the answer was sent.
    entries = trail(rpc, client=name)
    assert len(entries) == 1, entries
    entry = entries[0]
    assert entry["service"] == "members" and entry["method"] == "members.register"
    assert entry["outcome"] == "ok" and entry["detail"] is None
    assert entry["roles"] == ["registrar"] and entry["user_id"] == "rina"
    assert entry["on_behalf_of"] is None
    assert member["id"] in entry["records"]
    assert entry["call_id_stack"][-1].startswith("members.register.")
    # The member and its entry were written by one transaction.
    assert xmin(members_db, "members", member["id"]) == xmin(members_db, "audit_log",
                                                              entry["id"])


def test_refusals_are_recorded_with_their_reason(base_config, rpc):
    registrar = new_client(["registrar"])
    name = client_name(registrar)
    with calling_as(base_config, registrar) as proxy:
        message = forbidden(proxy.members.audit_log, {})
    entry = one_entry(rpc, client=name)
    assert entry["method"] == "members.audit_log" and entry["outcome"] == "Forbidden"
    assert entry["detail"] == message and "needs one of the roles: admin, auditor" in message
    assert entry["roles"] == ["registrar"] and entry["records"] == []
    # A caller without a valid identity is recorded too, as nobody.
    since = just_now()
    with calling_as(base_config, forged()) as proxy:
        forbidden(proxy.members.renew, make_member(rpc)["id"])
    entry = one_entry(rpc, client="(none)", method="renew", since=since)
    assert entry["outcome"] == "Forbidden" and entry["detail"] == UNKNOWN_TOKEN
    assert entry["roles"] == []


def test_a_failed_change_is_recorded_as_failed(base_config, rpc, members_db):
    registrar = new_client(["registrar"])
    with calling_as(base_config, registrar) as proxy:
        member = proxy.members.register(member_data())
        proxy.members.activate(member["id"])
        assert remote_error(proxy.members.activate, member["id"]).exc_type == "Conflict"
    activations = wait_until(
        lambda: len(found := trail(rpc, record=member["id"], method="activate")) == 2 and found,
        message="both activations in the trail")
    assert [e["outcome"] for e in activations] == ["ok", "Conflict"]
    assert all(e["client"] == client_name(registrar) for e in activations)
    # The member row was last written with the accepted activation's entry.
    assert xmin(members_db, "members", member["id"]) == xmin(members_db, "audit_log",
                                                              activations[0]["id"])


def test_the_trail_is_filtered_and_paged(base_config, rpc):
    registrar = new_client(["registrar"])
    name = client_name(registrar)
    with calling_as(base_config, registrar) as proxy:
        first = proxy.members.register(member_data())
        wait_for_next_second()
        second = proxy.members.register(member_data())
        proxy.members.activate(second["id"])
    everything = trail(rpc, client=name)
    assert [(e["method"], e["records"][0]) for e in everything] == [
        ("members.register", first["id"]), ("members.register", second["id"]),
        ("members.activate", second["id"])]
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids)

    assert [e["id"] for e in trail(rpc, record=second["id"])] == ids[1:]
    assert [e["id"] for e in trail(rpc, client=name, method="activate")] == ids[2:]
    assert [e["id"] for e in trail(rpc, client=name, method="members.register")] == ids[:2]
    assert [e["id"] for e in trail(rpc, client=name, since=everything[1]["at"])] == ids[1:]
    assert [e["id"] for e in trail(rpc, client=name, until=everything[0]["at"])] == ids[:1]
    assert trail(rpc, client=name, outcome="Conflict") == []

    pages, cursor = [], None
    while True:
        page = rpc.members.audit_log({"client": name, "limit": 1,
                                      **({"cursor": cursor} if cursor else {})})
        pages.append([e["id"] for e in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [[entry_id] for entry_id in ids]


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET outcome = 'Conflict', client = 'someone-else' WHERE id = :id",
    "DELETE FROM audit_log WHERE id = :id",
    "DELETE FROM audit_records WHERE audit_id = :id",
    "TRUNCATE audit_log, audit_records",
])
def test_nobody_can_edit_the_trail(rpc, members_db, statement):
    member = make_member(rpc)
    before = trail(rpc, record=member["id"])
    assert [e["method"] for e in before] == ["members.register", "members.activate"]
    with pytest.raises(sa.exc.DBAPIError, match="the audit trail is append-only"):
        with members_db.begin() as connection:
            connection.execute(sa.text(statement), {"id": before[0]["id"]})
    assert trail(rpc, record=member["id"]) == before


# -- who made a change, in the messages -------------------------------------------------------

def test_a_message_names_the_client_and_person_that_made_the_change(base_config, rpc,
                                                                     member_messages):
    # on_behalf_of is believed from a service only: a client's is ignored.
    registrar = new_client(["registrar"], user_id="rina")
    name = client_name(registrar)
    with calling_as(base_config, {**registrar, "on_behalf_of": "someone-else"}) as proxy:
        member = proxy.members.register(member_data())
    message, = member_messages.wait_for("member_registered", id=member["id"])
    assert message["actor"] == {"client": name, "user_id": "rina"}
    entry, = trail(rpc, client=name)
    assert entry["on_behalf_of"] is None and entry["user_id"] == "rina"


def test_a_service_names_the_client_it_serves(base_config, rpc):
    """A service process's identity may say whom it serves (on_behalf_of): the trail
    shows both."""
    client_id, token = start_service_identity(registry_engine(), "certification")
    since = just_now()
    try:
        with calling_as(base_config, {"auth_token": token,
                                      "on_behalf_of": "lsp-kantor"}) as proxy:
            message = forbidden(proxy.members.register, member_data())
    finally:
        end_service_identity(registry_engine(), client_id)
    assert message.startswith("client certification (roles: service) may not call "
                              "members.register")
    entry = one_entry(rpc, client="certification", method="register", since=since)
    assert entry["on_behalf_of"] == "lsp-kantor" and entry["roles"] == ["service"]


def test_certification_asks_members_as_itself_while_serving_a_client(
        base_config, rpc, certification_setup, certification_db, members_service,
        certificate_messages):
    scheme, _, session = certification_setup
    member = make_member(rpc)

    def view_status():
        with certification_db.connect() as connection:
            return connection.execute(
                sa.text("SELECT status FROM member_views WHERE member_id = :id"),
                {"id": member["id"]}).scalar()

    # Once certification's view of the member is up to date, forget it: certification
    # must ask members (members.get) when the member applies.
    wait_until(lambda: view_status() == "active", message="certification's member view")
    with certification_db.begin() as connection:
        connection.execute(sa.text("DELETE FROM member_views WHERE member_id = :id"),
                           {"id": member["id"]})

    lsp_admin = new_client(["lsp-admin"], user_id="rina")
    name = client_name(lsp_admin)
    with calling_as(base_config, lsp_admin) as proxy:
        application = proxy.certification.apply({
            "member_id": member["id"], "scheme_code": scheme["code"],
            "session_id": session["id"]})
    assert application["status"] == "submitted"
    assert view_status() == "active"  # what members answered

    entry, = rpc.certification.audit_log({"client": name})["items"]
    assert entry["method"] == "certification.apply" and entry["outcome"] == "ok"
    assert {application["id"], member["id"]} <= set(entry["records"])
    apply_call = entry["call_id_stack"][-1]
    # members answered a members.get made within that apply...
    answered = [line for line in members_service.log().splitlines()
                if line.startswith("{") and (logged := json.loads(line))["logger"] ==
                "ekraf.calls" and logged["message"].startswith("rpc get ok")
                and apply_call in (logged["call_id_stack"] or [])]
    assert len(answered) == 1, apply_call
    # ...and the message names the client and the person, not the service.
    message, = certificate_messages.wait_for("application_submitted", id=application["id"])
    assert message["actor"] == {"client": name, "user_id": "rina"}
