"""4. Fan-out: one event_published announced to 5,000 members: time until every
in-app notification exists."""
import time
import uuid
from datetime import datetime, timedelta, timezone

from nameko.standalone.events import event_dispatcher

from bench.report import table
from shared.envelope import make_envelope
from shared.timeutil import iso, utcnow
from tests.support.waiting import wait_until


def run(stack, smoke):
    count = 100 if smoke else 5_000
    subsector = "kriya"  # no other benchmark's members: the audience is exactly these
    dispatch = event_dispatcher(stack.config)
    # The directory, as the members service's messages would fill it.
    for n in range(count):
        member_id = str(uuid.uuid4())
        # member_updated: it only changes the directory (no notice of its own).
        dispatch("members", "member_updated", make_envelope("members", "member_updated", {
            "id": member_id, "member_number": f"EKRAF-2026-{n:06d}",
            "full_name": f"Pengrajin {n}", "email": f"pengrajin.{member_id[:12]}@example.id",
            "phone": None, "city": "Balikpapan", "province": "Kalimantan Timur",
            "subsector": subsector, "locale": "id", "status": "active",
            "valid_until": iso(utcnow() + timedelta(days=365)), "updated_at": iso(utcnow())}))
    wait_until(lambda: stack.scalar("notifications", "SELECT count(*) FROM contacts "
                                    "WHERE subsector = :s", s=subsector) >= count,
               timeout=600, interval=0.5, message="the directory to fill")
    stack.settle()
    starts = datetime.now(timezone.utc) + timedelta(days=14)
    envelope = make_envelope("events", "event_published", {
        "id": str(uuid.uuid4()), "title": "Pameran Kriya Kaltim", "kind": "exhibition",
        "venue": "BSCC Dome", "city": "Balikpapan", "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=8)).isoformat(), "subsectors": [subsector],
        "members_only": False, "description": "Pameran kriya se-Kalimantan Timur."})
    started = time.monotonic()
    dispatch("events", "event_published", envelope)
    wait_until(lambda: stack.scalar("notifications", "SELECT count(*) FROM notifications "
                                    "WHERE source_event_id = :e",
                                    e=envelope["event_id"]) >= count,
               timeout=600, interval=0.05, message="every notification")
    elapsed = time.monotonic() - started
    deliveries = stack.scalar("notifications", "SELECT count(*) FROM deliveries "
                              "WHERE source_event_id = :e", e=envelope["event_id"])
    text = table("Fan-out of one announcement", ["members", "seconds until every in-app "
                                                 "notification", "notifications/s",
                                                 "deliveries written"],
                 [(count, elapsed, count / elapsed, deliveries)],
                 ["Target: 5,000 members in under 10 s. The emails are then sent by the "
                  "delivery workers, not measured here."])
    return text, {"seconds": elapsed}
