"""The wiring of each events method, once, through a real RPC client against the real
broker and database, with an outside subscriber listening: create_event, get_event,
publish_event, cancel_event and list_events.

Bad input, the state machine's refusals, filters, order and pages are use cases,
tested in-process in tests/usecases/test_events_lifecycle.py."""
from datetime import datetime, timedelta, timezone

from tests.support.calls import remote_error
from tests.support.factories import event_data, in_days, make_event, tag

EVENT_FIELDS = {"id", "title", "kind", "description", "venue", "city", "starts_at", "ends_at",
                "capacity", "registration_closes_at", "members_only", "subsectors",
                "scheme_code", "status", "confirmed_count", "waitlist_count", "created_at"}
WITA = timezone(timedelta(hours=8))  # Balikpapan's time


def parse_time(value):
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0), value
    return parsed


# -- create_event and get_event ----------------------------------------------------------

def test_a_new_event_is_a_draft_with_the_contracts_defaults(erpc):
    day = (datetime.now(WITA) + timedelta(days=30)).date().isoformat()
    event = erpc.events.create_event(event_data(starts_at=f"{day}T09:00:00.750+08:00",
                                                ends_at=f"{day}T12:00:00+08:00"))
    assert set(event) == EVENT_FIELDS
    assert event["status"] == "draft"
    assert event["confirmed_count"] == 0 and event["waitlist_count"] == 0
    assert event["members_only"] is True and event["subsectors"] == []
    assert event["description"] is None and event["scheme_code"] is None
    assert event["starts_at"] == f"{day}T01:00:00+00:00"  # UTC, to the second
    assert event["registration_closes_at"] == event["starts_at"]
    parse_time(event["created_at"])
    assert erpc.events.get_event(event["id"]) == event


# -- publish_event and cancel_event ------------------------------------------------------

def test_draft_to_published_to_cancelled(erpc, event_messages):
    draft = make_event(erpc, publish=False)
    published = erpc.events.publish_event(draft["id"])
    assert published == {**draft, "status": "published"}
    [message] = event_messages.wait_for("event_published", id=draft["id"])
    assert message["data"] == published
    # A refusal crosses the wire as the contract's error (the state machine's
    # every refusal: tests/usecases/test_events_lifecycle.py).
    assert remote_error(erpc.events.publish_event, draft["id"]).exc_type == "Conflict"

    cancelled = erpc.events.cancel_event(draft["id"], "Gedung dipakai untuk pengungsian banjir")
    assert cancelled == {**draft, "status": "cancelled"}
    [message] = event_messages.wait_for("event_cancelled", id=draft["id"])
    assert message["data"] == {**cancelled, "member_ids": [],
                               "reason": "Gedung dipakai untuk pengungsian banjir"}
    assert erpc.events.get_event(draft["id"]) == cancelled


# -- list_events -------------------------------------------------------------------------

def test_list_events_pages_by_city(erpc):
    """The wiring of list_events: filters and a cursor go in, pages come out (every
    filter, the order and the refusals: tests/usecases/test_events_lifecycle.py)."""
    city = f"Samarinda {tag()}"
    made = [make_event(erpc, city=city, starts_at=in_days(days), ends_at=in_days(days + 0.1))
            for days in (3, 5, 7)]
    first = erpc.events.list_events({"city": city.upper(), "limit": 2})
    assert first["items"] == made[:2] and first["next_cursor"]
    assert all(set(item) == EVENT_FIELDS for item in first["items"])
    rest = erpc.events.list_events({"city": city, "limit": 2, "cursor": first["next_cursor"]})
    assert rest == {"items": made[2:], "next_cursor": None}
