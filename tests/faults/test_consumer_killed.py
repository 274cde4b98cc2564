"""A consumer killed with SIGKILL in the middle of handling: after a restart its
messages are redelivered and applied once each."""
import signal
import uuid

import sqlalchemy as sa

from shared.envelope import make_envelope
from tests.support.services import wait_for_rpc
from tests.support.waiting import wait_until

MESSAGES = 300


def test_a_consumer_killed_mid_handling_applies_each_message_once_after_restart(
        rpc, base_config, notifications_service, notifications_db):
    from nameko.standalone.events import event_dispatcher

    member = rpc.members.register({"full_name": "Korban Uji", "email":
                                   f"kill.{uuid.uuid4().hex[:8]}@example.id",
                                   "phone": "081277788899", "city": "Samarinda",
                                   "subsector": "musik"})
    wait_until(lambda: rpc.notifications.list_inbox(member["id"])["items"])
    rpc.notifications.set_preferences(member["id"], {"email": False, "sms": False})  # in-app only
    dispatch = event_dispatcher(base_config)
    envelopes = [make_envelope("certification", "certificate_revoked", {
        "number": f"CRT-2026-KILL-{i:04d}-TEST", "member_id": member["id"],
        "holder_name": "Korban Uji", "scheme_code": "DKV-MUDA", "scheme_title": "Desainer",
        "status": "revoked", "issued_at": "2026-11-28T03:00:00+00:00",
        "valid_until": "2029-11-28T03:00:00+00:00", "reason": "Uji",
        "verify_url": f"https://example.test/certificates/{i}"}) for i in range(MESSAGES)]
    for envelope in envelopes:
        dispatch("certification", "certificate_revoked", envelope)

    def applied():
        with notifications_db.connect() as connection:
            return connection.execute(sa.text(
                "SELECT count(*) FROM notifications WHERE member_id = :id "
                "AND event_type = 'certificate_revoked'"), {"id": member["id"]}).scalar()

    wait_until(lambda: applied() >= 10, timeout=30, interval=0.01)
    notifications_service.stop(sig=signal.SIGKILL)  # mid-stream: no goodbye, no acks
    killed_at = applied()
    assert killed_at < MESSAGES  # it really was killed in the middle
    notifications_service.start()
    wait_for_rpc(base_config, "notifications", "delivery_counts")

    wait_until(lambda: applied() == MESSAGES, timeout=60, interval=0.5,
               message="every message applied after the restart")
    with notifications_db.connect() as connection:
        per_message = connection.execute(sa.text(
            "SELECT source_event_id, count(*) FROM notifications WHERE member_id = :id "
            "AND event_type = 'certificate_revoked' GROUP BY source_event_id"),
            {"id": member["id"]}).all()
    assert len(per_message) == MESSAGES and all(count == 1 for _, count in per_message)
    assert {event_id for event_id, _ in per_message} == {e["event_id"] for e in envelopes}
