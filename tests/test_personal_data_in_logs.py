"""No personal data (email, phone, NIB) in any service's log, after a full flow
that includes failures (conflicts, bad input, a retried message)."""
import uuid

from tests.support.calls import outcome_of
from tests.support.waiting import wait_until


def test_no_email_phone_or_nib_in_any_log(rpc, certification_service, events_service,
                                          notifications_service, members_service):
    secret = uuid.uuid4().hex[:10]
    email, phone, nib = f"rahasia.{secret}@example.id", "081299887766", "9988776655443"
    member = rpc.members.register({"full_name": "Data Pribadi", "email": email,
                                   "phone": phone, "city": "Balikpapan",
                                   "subsector": "kuliner", "nib": nib})
    rpc.members.activate(member["id"])
    assert outcome_of(rpc.members.register, {"full_name": "Data Pribadi", "email": email,
                                             "phone": phone, "city": "Balikpapan",
                                             "subsector": "kuliner"}) == "Conflict"
    assert outcome_of(rpc.members.update_profile, member["id"],
                      {"email": email, "phone": "nope " + phone}) == "ValidationError"
    rpc.members.suspend(member["id"], "audit")
    wait_until(lambda: any(n["event_type"] == "member_suspended" for n in
                           rpc.notifications.list_inbox(member["id"])["items"]))
    for service in (members_service, certification_service, events_service,
                    notifications_service):
        log = service.log()
        for personal in (email, phone, "+62" + phone[1:], nib):
            assert personal not in log, f"{personal!r} in the {service.module} log"


def test_no_client_secret_in_any_log(base_config, certification_service, events_service,
                                     notifications_service, members_service):
    """A token (valid, revoked, or of the wrong shape) never reaches a log, not even in
    the warning a refusal writes."""
    from nameko.standalone.rpc import ClusterRpcProxy

    from tests.support.identities import new_client, revoke

    context = new_client(["auditor"], user_id="rina")
    secret = context["auth_token"].split(".")[2]
    with ClusterRpcProxy(base_config, context_data=context, timeout=30) as rpc:
        rpc.members.list({"limit": 1})
        assert outcome_of(rpc.members.register, {"full_name": "x"}) == "Forbidden"
        assert outcome_of(rpc.events.create_event, {}) == "Forbidden"
    revoke(context)
    bent = f"{context['auth_token']}-and-more"
    for token in (context["auth_token"], bent):
        with ClusterRpcProxy(base_config, context_data={"auth_token": token}, timeout=30) as rpc:
            wait_until(lambda: outcome_of(rpc.members.stats) == "Forbidden", timeout=15)
    for service in (members_service, certification_service, events_service,
                    notifications_service):
        assert secret not in service.log(), f"a client secret in the {service.module} log"
    assert "refused members.register for " in members_service.log()
