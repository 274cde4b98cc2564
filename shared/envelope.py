"""The message envelope every service publishes and every handler receives.

    {"event_id": "uuid", "event_type": "certificate_issued", "occurred_at": "ISO 8601",
     "producer": "certification", "schema_version": 1, "data": {...},
     "actor": {"client": "lsp-office", "user_id": "siti"}}

``actor`` (added within ``schema_version`` 1, so a reader must not require it: messages
published before it lack it) names who made the change: the client that called, the
person it acted for (``user_id``, or null), and for a change a service made while
serving a client's call, ``on_behalf_of``. A service's own change (a timer, a
handler) names the service as the client.
"""
import uuid
from datetime import datetime

from shared.errors import ValidationError
from shared.timeutil import iso, parse_iso_datetime, utcnow

SCHEMA_VERSION = 1
ENVELOPE_KEYS = {"event_id", "event_type", "occurred_at", "producer", "schema_version", "data"}
OPTIONAL_ENVELOPE_KEYS = {"actor"}


class MalformedMessage(Exception):
    """A message that can never be handled (wrong shape): parked at once, not retried."""


def require_fields(data, *names):
    """Park (never retry) a message whose data lacks what its handler needs."""
    missing = [name for name in names if data.get(name) in (None, "")]
    if missing:
        raise MalformedMessage(f"data lacks {', '.join(missing)}")
    return data


def require_time(data, name):
    """``data[name]`` as an aware UTC datetime; a message whose time cannot be read
    can never be handled, so it is parked at once, the field named."""
    try:
        return parse_iso_datetime(data.get(name), name)
    except ValidationError:
        raise MalformedMessage(f"{name} is not an ISO 8601 time") from None


def make_envelope(producer, event_type, data, occurred_at=None, actor=None):
    envelope = {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "occurred_at": iso(occurred_at or utcnow()),
        "producer": producer,
        "schema_version": SCHEMA_VERSION,
        "data": data,
    }
    if actor is not None:
        envelope["actor"] = actor
    return envelope


def parse_envelope(body, expected_type=None):
    """Check a received message's shape; raise ``MalformedMessage`` naming what is wrong."""
    if not isinstance(body, dict):
        raise MalformedMessage(f"envelope must be an object, got {type(body).__name__}")
    missing = sorted(ENVELOPE_KEYS - body.keys())
    if missing:
        raise MalformedMessage(f"envelope lacks {', '.join(missing)}")
    try:
        uuid.UUID(str(body["event_id"]))
    except ValueError:
        raise MalformedMessage("event_id is not a UUID") from None
    if not isinstance(body["event_type"], str) or (
        expected_type is not None and body["event_type"] != expected_type
    ):
        raise MalformedMessage(f"event_type {body['event_type']!r} is not {expected_type!r}")
    if not isinstance(body["data"], dict):
        raise MalformedMessage("data must be an object")
    if not isinstance(body["schema_version"], int):
        raise MalformedMessage("schema_version must be an integer")
    try:
        datetime.fromisoformat(str(body["occurred_at"]))
    except ValueError:
        raise MalformedMessage("occurred_at is not an ISO 8601 time") from None
    return body
