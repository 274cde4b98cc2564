"""Roles on real calls, and clients bound to a member or to an assessor: what each
may do on the running services, and what they are refused."""
import uuid

import pytest

from tests.identities.calling import calling_as, forbidden, not_found
from tests.support.factories import (
    all_competent, make_assessor, make_event, make_member, make_scheme,
    make_session, member_data,
)
from tests.support.identities import client_name, new_client


def needs(context, method, *roles):
    """The start of the refusal a client gets for a method outside its roles."""
    return (f"client {client_name(context)} (roles: {', '.join(roles)}) may not call "
            f"{method}; it needs one of the roles: ")


# -- roles ----------------------------------------------------------------------------

def test_a_registrar_registers_and_activates(base_config, rpc):
    registrar = new_client(["registrar"])
    with calling_as(base_config, registrar) as proxy:
        member = proxy.members.register(member_data())
        assert member["status"] == "pending"
        active = proxy.members.activate(member["id"])
    assert active["status"] == "active" and active["member_number"]
    assert rpc.members.get(member["id"])["status"] == "active"


def test_an_lsp_admin_reads_members_but_cannot_activate_one(base_config, rpc):
    member = make_member(rpc, activate=False)
    lsp_admin = new_client(["lsp-admin"])
    with calling_as(base_config, lsp_admin) as proxy:
        assert proxy.members.get(member["id"])["status"] == "pending"
        message = forbidden(proxy.members.activate, member["id"])
    assert message == needs(lsp_admin, "members.activate", "lsp-admin") + "admin, registrar"
    assert rpc.members.get(member["id"])["status"] == "pending"


def test_an_auditor_reads_the_members_and_the_trail_but_changes_nothing(base_config, rpc):
    member = make_member(rpc)
    auditor = new_client(["auditor"])
    data = member_data()
    with calling_as(base_config, auditor) as proxy:
        listed = proxy.members.list({"q": member["full_name"]})["items"]
        assert [m["id"] for m in listed] == [member["id"]]
        trail = proxy.members.audit_log({"record": member["id"]})["items"]
        assert {entry["method"] for entry in trail} == {"members.register",
                                                        "members.activate"}
        message = forbidden(proxy.members.register, data)
    assert message == needs(auditor, "members.register", "auditor") + "admin, registrar"
    assert rpc.members.list({"q": data["full_name"]})["items"] == []


def test_an_operator_watches_health_but_reads_no_member(base_config, rpc,
                                                       notifications_service):
    member = make_member(rpc)
    operator = new_client(["operator"])
    with calling_as(base_config, operator) as proxy:
        assert proxy.members.health()["status"] == "ok"
        assert isinstance(proxy.notifications.delivery_counts(), dict)
        message = forbidden(proxy.members.get, member["id"])
    assert message == needs(operator, "members.get", "operator") + \
        "admin, auditor, lsp-admin, member, registrar, service"


# -- a client bound to a member -----------------------------------------------------------

@pytest.fixture(scope="module")
def two_members(rpc):
    """``(own, other)``: two active members; the tests call as a client bound to own."""
    return make_member(rpc), make_member(rpc)


@pytest.fixture(scope="module")
def own_app(two_members):
    return new_client(["member"], member_id=two_members[0]["id"])


def test_a_member_reads_their_own_record_and_no_other(base_config, two_members, own_app):
    own, other = two_members
    unknown = str(uuid.uuid4())
    with calling_as(base_config, own_app) as proxy:
        assert proxy.members.get(own["id"]) == own
        assert proxy.members.get_by_number(own["member_number"])["id"] == own["id"]
        # Another member is worded as one that does not exist.
        assert not_found(proxy.members.get, other["id"]) == f"no member {other['id']}"
        assert not_found(proxy.members.get, unknown) == f"no member {unknown}"
        assert not_found(proxy.members.get_by_number, other["member_number"]) == \
            f"no member {other['member_number']}"


def test_a_member_reads_their_own_inbox_and_no_other(base_config, two_members, own_app,
                                                     notifications_service):
    own, other = two_members
    with calling_as(base_config, own_app) as proxy:
        assert "items" in proxy.notifications.list_inbox(own["id"])
        assert not_found(proxy.notifications.list_inbox, other["id"]) == \
            f"no member {other['id']}"


def test_a_member_registers_for_an_event_only_as_themselves(base_config, rpc, two_members,
                                                            own_app, events_service):
    own, other = two_members
    event = make_event(rpc)
    with calling_as(base_config, own_app) as proxy:
        assert not_found(proxy.events.register, event["id"], other["id"]) == \
            f"no member {other['id']}"
        registration = proxy.events.register(event["id"], own["id"])
    assert registration["member_id"] == own["id"]
    registered = rpc.events.list_registrations(event["id"])["items"]
    assert [r["member_id"] for r in registered] == [own["id"]]


def test_a_member_sees_only_their_own_certificates(base_config, rpc, two_members, own_app,
                                                   certification_setup):
    own, other = two_members
    scheme, assessor, session = certification_setup
    with calling_as(base_config, own_app) as proxy:
        # Applying for another member is refused as if they did not exist.
        assert not_found(proxy.certification.apply, {
            "member_id": other["id"], "scheme_code": scheme["code"],
            "session_id": session["id"]}) == f"no member {other['id']}"
        application = proxy.certification.apply({
            "member_id": own["id"], "scheme_code": scheme["code"], "session_id": session["id"]})
    rpc.certification.record_result(application["id"], {"assessor_id": assessor["id"],
                                                         "units": all_competent(scheme)})
    others = _certify(rpc, other, scheme, assessor, session)
    with calling_as(base_config, own_app) as proxy:
        mine = proxy.certification.list_certificates({"limit": 200})["items"]
        assert mine and {c["member_id"] for c in mine} == {own["id"]}
        assert others["number"] not in {c["number"] for c in mine}
        assert not_found(proxy.certification.list_certificates, {"member_id": other["id"]}) \
            == f"no member {other['id']}"
        assert not_found(proxy.certification.get_certificate, others["number"]) == \
            f"no certificate {others['number']}"
    everyone = rpc.certification.list_certificates({"limit": 200})["items"]
    assert others["number"] in {c["number"] for c in everyone}


def _certify(rpc, member, scheme, assessor, session):
    application = rpc.certification.apply(
        {"member_id": member["id"], "scheme_code": scheme["code"], "session_id": session["id"]})
    return rpc.certification.record_result(
        application["id"], {"assessor_id": assessor["id"],
                            "units": all_competent(scheme)})["certificate"]


# -- a client bound to an assessor ----------------------------------------------------------

def test_an_assessor_records_results_only_as_themselves(base_config, rpc, certification_service):
    scheme = make_scheme(rpc)
    assigned = make_assessor(rpc, [scheme["code"]])
    unassigned = make_assessor(rpc, [scheme["code"]])
    session = make_session(rpc, scheme, [assigned])
    member = make_member(rpc)
    application = rpc.certification.apply(
        {"member_id": member["id"], "scheme_code": scheme["code"], "session_id": session["id"]})
    result = {"units": all_competent(scheme)}

    stranger = new_client(["assessor"], assessor_id=unassigned["id"])
    with calling_as(base_config, stranger) as proxy:
        # Naming the assigned assessor does not make the client them...
        assert "records results only as themselves" in forbidden(
            proxy.certification.record_result, application["id"],
            {**result, "assessor_id": assigned["id"]})
        # ...and as itself it is not assigned to the session.
        assert forbidden(proxy.certification.record_result, application["id"], result) == \
            "this assessor is not assigned to the application's session"
    assert rpc.certification.get_application(application["id"])["status"] == "submitted"

    own = new_client(["assessor"], assessor_id=assigned["id"])
    with calling_as(base_config, own) as proxy:
        recorded = proxy.certification.record_result(application["id"], result)  # no assessor_id
    assert recorded["application"]["status"] == "competent"
    assert recorded["application"]["result"]["assessor_id"] == assigned["id"]
    assert recorded["certificate"]["member_id"] == member["id"]
