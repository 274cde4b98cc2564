"""Building blocks for events tests: members, events, times."""
import uuid
from datetime import datetime, timedelta, timezone


def tag():
    return uuid.uuid4().hex[:8]


def in_days(days):
    return (datetime.now(timezone.utc) + timedelta(days=days)).isoformat()


def make_member(rpc, activate=True, **overrides):
    data = {"full_name": f"Peserta Acara {tag()}", "email": f"peserta.{tag()}@example.id",
            "phone": "0812-5400-7788", "city": "Balikpapan", "subsector": "kuliner"}
    data.update(overrides)
    member = rpc.members.register(data)
    return rpc.members.activate(member["id"]) if activate else member


def event_data(**overrides):
    data = {"title": "Dialog Publik Ekonomi Kreatif", "kind": "public_dialog",
            "venue": "Balikpapan Sport and Convention Center", "city": "Balikpapan",
            "starts_at": in_days(10), "ends_at": in_days(10.2), "capacity": 10}
    data.update(overrides)
    return data


def make_event(rpc, publish=True, **overrides):
    event = rpc.events.create_event(event_data(**overrides))
    return rpc.events.publish_event(event["id"]) if publish else event


