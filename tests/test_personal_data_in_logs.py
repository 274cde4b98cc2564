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
