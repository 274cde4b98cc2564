"""Registration, waitlists, cancellation, check-in and cancelling an event, in-process:
every refusal changes nothing and records nothing; every change records exactly its
messages. Members come from a stub of the members service (what events' view has not
heard of, it asks for); a test sees only its own events and registrations.

The RPC tier (tests/events/test_registrations_rpc.py) keeps each method's wiring once
and the races (many registering at once).
"""
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from services.events.models import Event
from services.events.service import EventsService
from shared.errors import Conflict, Forbidden, NotFound, ValidationError
from tests.support.factories import in_days, member_record
from tests.support.usecases import InWorker, MembersStub, later, new_event

UNKNOWN_ID = str(uuid.uuid4())


@pytest.fixture
def members():
    return MembersStub()


@pytest.fixture
def events(session_of, members):
    return InWorker(EventsService, session_of("events"), members=members)


def make_member(members, status="active", **overrides):
    return members.add(member_record(status, **overrides))


def message_for(registration, event):
    """What a registration message must carry: the record plus the event's facts."""
    return {**registration, "event_title": event["title"], "kind": event["kind"],
            "scheme_code": event["scheme_code"], "starts_at": event["starts_at"],
            "venue": event["venue"], "city": event["city"]}


def registrations(events, event, **filters):
    return events.list_registrations(event["id"], {"limit": 200, **filters})["items"]


def waitlist(events, event):
    """``[(member_id, position), ...]`` in the order list_registrations gives them."""
    return [(r["member_id"], r["position"])
            for r in registrations(events, event, status="waitlisted")]


def counts(events, event):
    current = events.get_event(event["id"])
    return current["confirmed_count"], current["waitlist_count"]


def register_all(events, event, people):
    return [events.register(event["id"], person["id"]) for person in people]


def since(events, before):
    """The messages recorded since ``before`` of them were."""
    return events.outbox.messages[before:]


# -- register --------------------------------------------------------------------------

def test_seats_first_then_the_waitlist(events, members):
    event = new_event(events, capacity=1, kind="training", scheme_code="DKV-JUNIOR")
    before = len(events.outbox.messages)
    first, second, third = register_all(events, event, [make_member(members) for _ in range(3)])
    assert set(first) == {"id", "event_id", "member_id", "status", "position",
                          "registered_at", "checked_in_at"}
    assert (first["status"], first["position"], first["checked_in_at"]) == ("confirmed", None, None)
    assert (second["status"], second["position"]) == ("waitlisted", 1)
    assert (third["status"], third["position"]) == ("waitlisted", 2)
    assert counts(events, event) == (1, 2)
    [listed] = events.list_events()["items"]
    assert (listed["confirmed_count"], listed["waitlist_count"]) == (1, 2)
    assert since(events, before) == [
        ("registration_confirmed", message_for(first, event)),
        ("registration_waitlisted", message_for(second, event)),
        ("registration_waitlisted", message_for(third, event))]
    assert registrations(events, event) == [first, second, third]


def closed_event(events):
    return new_event(events, registration_closes_at=in_days(-0.01))


def past_event(events):
    """A published event that has already started (create_event refuses a past start,
    so the start is moved back as time would)."""
    event = new_event(events)
    started = datetime.now(timezone.utc) - timedelta(hours=1)
    events.session.execute(update(Event).where(Event.id == event["id"]).values(
        starts_at=started, ends_at=started + timedelta(hours=3), registration_closes_at=started))
    return events.get_event(event["id"])


def cancelled_event(events):
    event = new_event(events)
    return events.cancel_event(event["id"], "Hujan badai")


@pytest.mark.parametrize("make, reason", [
    (lambda events: new_event(events, publish=False),
     "the event is draft, not open for registration"),
    (cancelled_event, "the event is cancelled, not open for registration"),
    (closed_event, "registration for this event has closed"),
    (past_event, "registration for this event has closed"),
], ids=["draft", "cancelled", "closed", "past"])
def test_registration_needs_a_published_open_event(events, members, make, reason):
    event = make(events)
    member = make_member(members)
    recorded = list(events.outbox.messages)
    with pytest.raises(Conflict) as raised:
        events.register(event["id"], member["id"])
    assert str(raised.value) == reason
    assert registrations(events, event) == []
    assert events.get_event(event["id"]) == event
    assert events.outbox.messages == recorded
    assert members.asked == []  # refused before anyone is asked about the member


def test_registering_twice_is_a_conflict_whether_seated_or_waiting(events, members):
    event = new_event(events, capacity=1)
    seated, waiting = make_member(members), make_member(members)
    made = register_all(events, event, [seated, waiting])
    recorded = list(events.outbox.messages)
    for member in (seated, waiting):
        with pytest.raises(Conflict) as raised:
            events.register(event["id"], member["id"])
        assert str(raised.value) == "the member is already registered for this event"
    assert counts(events, event) == (1, 1)
    assert registrations(events, event) == made
    assert events.outbox.messages == recorded


def test_unknown_or_malformed_ids(events, members):
    event, member = new_event(events), make_member(members)
    recorded = list(events.outbox.messages)
    with pytest.raises(NotFound) as raised:
        events.register(event["id"], UNKNOWN_ID)
    assert str(raised.value) == f"no member {UNKNOWN_ID}"
    assert members.asked == [UNKNOWN_ID]
    with pytest.raises(NotFound) as raised:
        events.register(UNKNOWN_ID, member["id"])
    assert str(raised.value) == f"no event {UNKNOWN_ID}"
    for event_id, member_id, field in [("x", member["id"], "event_id"),
                                       (event["id"], 42, "member_id"),
                                       (event["id"], "", "member_id"),
                                       (None, member["id"], "event_id")]:
        with pytest.raises(ValidationError) as raised:
            events.register(event_id, member_id)
        assert set(raised.value.errors) == {field}
    assert registrations(events, event) == [] and counts(events, event) == (0, 0)
    assert events.outbox.messages == recorded
    assert members.asked == [UNKNOWN_ID]


def test_a_members_only_event_needs_an_active_member(events, members):
    event = new_event(events, members_only=True)
    pending = make_member(members, "pending")
    recorded = list(events.outbox.messages)
    with pytest.raises(Forbidden) as raised:
        events.register(event["id"], pending["id"])
    assert str(raised.value) == "this event is for active members; the member is pending"
    assert registrations(events, event) == [] and counts(events, event) == (0, 0)
    assert events.outbox.messages == recorded

    # Activated in members; events' view still says pending, so members is asked.
    members.add({**pending, "status": "active", "updated_at": later(pending)})
    registration = events.register(event["id"], pending["id"])
    assert registration["status"] == "confirmed"
    assert members.asked == [pending["id"], pending["id"]]


@pytest.mark.parametrize("status", ["suspended", "lapsed"])
def test_a_members_only_event_refuses_a_member_who_is_not_active(events, members, status):
    event = new_event(events, members_only=True)
    member = make_member(members, status)
    with pytest.raises(Forbidden) as raised:
        events.register(event["id"], member["id"])
    assert str(raised.value) == f"this event is for active members; the member is {status}"
    assert registrations(events, event) == []


@pytest.mark.parametrize("status", ["pending", "active", "suspended"])
def test_a_public_event_accepts_any_registered_member(events, members, status):
    event = new_event(events, members_only=False, kind="public_dialog")
    member = make_member(members, status)
    registration = events.register(event["id"], member["id"])
    assert registration["status"] == "confirmed"
    assert events.outbox.types()[-1] == "registration_confirmed"
    assert counts(events, event) == (1, 0)


@pytest.mark.parametrize("members_only", [True, False])
def test_an_event_for_some_subsectors_takes_only_their_members(events, members, members_only):
    event = new_event(events, members_only=members_only, subsectors=["musik", "fotografi"])
    cook = make_member(members, subsector="kuliner")
    musician = make_member(members, subsector="musik")
    photographer = make_member(members, subsector="fotografi")
    with pytest.raises(Forbidden) as raised:
        events.register(event["id"], cook["id"])
    assert str(raised.value) == "this event is for fotografi, musik, not kuliner"
    made = register_all(events, event, [musician, photographer])
    assert [r["status"] for r in made] == ["confirmed", "confirmed"]
    assert counts(events, event) == (2, 0)
    assert registrations(events, event) == made


def test_registering_again_after_cancelling(events, members):
    event, member = new_event(events), make_member(members)
    first = events.register(event["id"], member["id"])
    events.cancel_registration(event["id"], member["id"])
    again = events.register(event["id"], member["id"])
    assert again["id"] != first["id"] and again["status"] == "confirmed"
    assert [r["status"] for r in registrations(events, event)] == ["cancelled", "confirmed"]
    assert counts(events, event) == (1, 0)


# -- cancel_registration -------------------------------------------------------------------

def test_a_cancelled_seat_promotes_the_first_waiting_and_positions_stay_contiguous(
        events, members):
    event = new_event(events, capacity=2)
    m1, m2, m3, m4, m5, m6 = people = [make_member(members) for _ in range(6)]
    r1, r2, r3, r4, r5, r6 = register_all(events, event, people)
    before = len(events.outbox.messages)

    cancelled = events.cancel_registration(event["id"], m1["id"])
    assert cancelled == {**r1, "status": "cancelled"}
    promoted = {**r3, "status": "confirmed", "position": None}
    assert since(events, before) == [("registration_cancelled", message_for(cancelled, event)),
                                     ("registration_promoted", message_for(promoted, event))]
    assert registrations(events, event, status="confirmed") == [r2, promoted]
    assert waitlist(events, event) == [(m4["id"], 1), (m5["id"], 2), (m6["id"], 3)]
    assert counts(events, event) == (2, 3)

    before = len(events.outbox.messages)
    gone = events.cancel_registration(event["id"], m5["id"])  # from the middle of the waitlist
    assert gone == {**r5, "status": "cancelled", "position": None}
    assert since(events, before) == [("registration_cancelled", message_for(gone, event))]
    assert waitlist(events, event) == [(m4["id"], 1), (m6["id"], 2)]
    assert counts(events, event) == (2, 2)

    before = len(events.outbox.messages)
    events.cancel_registration(event["id"], m2["id"])
    assert events.outbox.types()[before:] == ["registration_cancelled", "registration_promoted"]
    assert since(events, before)[1][1]["member_id"] == m4["id"]
    assert waitlist(events, event) == [(m6["id"], 1)]
    assert counts(events, event) == (2, 1)
    latecomer = make_member(members)
    assert events.register(event["id"], latecomer["id"])["position"] == 2
    assert len(events.outbox.of_type("registration_promoted")) == 2
    assert len(events.outbox.of_type("registration_cancelled")) == 3


def test_cancelling_a_waitlist_place_promotes_nobody(events, members):
    event = new_event(events, capacity=1)
    seated, first, second = people = [make_member(members) for _ in range(3)]
    register_all(events, event, people)
    before = len(events.outbox.messages)
    events.cancel_registration(event["id"], first["id"])
    assert events.outbox.types()[before:] == ["registration_cancelled"]
    assert waitlist(events, event) == [(second["id"], 1)]
    assert counts(events, event) == (1, 1)


def test_cancelling_with_nobody_waiting_frees_the_seat(events, members):
    event = new_event(events, capacity=1)
    first, second = make_member(members), make_member(members)
    registration = events.register(event["id"], first["id"])
    before = len(events.outbox.messages)
    cancelled = events.cancel_registration(event["id"], first["id"])
    assert since(events, before) == [("registration_cancelled", message_for(cancelled, event))]
    assert cancelled == {**registration, "status": "cancelled"}
    assert counts(events, event) == (0, 0)
    assert events.register(event["id"], second["id"])["status"] == "confirmed"


def test_cancel_registration_refusals(events, members):
    event = new_event(events, capacity=2)
    cancelled, attended, stranger = (make_member(members) for _ in range(3))
    register_all(events, event, [cancelled, attended])
    events.cancel_registration(event["id"], cancelled["id"])
    events.check_in(event["id"], attended["id"])
    before = registrations(events, event)
    recorded = list(events.outbox.messages)

    for member, status in ((cancelled, "cancelled"), (attended, "attended")):
        with pytest.raises(Conflict) as raised:
            events.cancel_registration(event["id"], member["id"])
        assert str(raised.value) == f"cannot cancel a registration that is {status}"
    with pytest.raises(NotFound) as raised:
        events.cancel_registration(event["id"], stranger["id"])
    assert str(raised.value) == \
        f"member {stranger['id']} is not registered for event {event['id']}"
    with pytest.raises(NotFound) as raised:
        events.cancel_registration(UNKNOWN_ID, stranger["id"])
    assert str(raised.value) == f"no event {UNKNOWN_ID}"
    for event_id, member_id, field in [(event["id"], "x", "member_id"),
                                       ("x", stranger["id"], "event_id")]:
        with pytest.raises(ValidationError) as raised:
            events.cancel_registration(event_id, member_id)
        assert set(raised.value.errors) == {field}

    assert counts(events, event) == (1, 0)
    assert registrations(events, event) == before
    assert events.outbox.messages == recorded


# -- check_in ------------------------------------------------------------------------------

def test_check_in_records_attendance_once(events, members):
    event = new_event(events, capacity=1, kind="training", scheme_code="DKV-JUNIOR")
    member = make_member(members)
    registration = events.register(event["id"], member["id"])
    before = len(events.outbox.messages)
    started = datetime.now(timezone.utc)
    attended = events.check_in(event["id"], member["id"])
    assert started - timedelta(seconds=1) <= datetime.fromisoformat(attended["checked_in_at"]) \
        <= datetime.now(timezone.utc)
    assert attended == {**registration, "status": "attended",
                        "checked_in_at": attended["checked_in_at"]}
    assert events.check_in(event["id"], member["id"]) == attended
    assert since(events, before) == [("attendance_recorded", message_for(attended, event))]
    # An attended seat is still taken.
    assert counts(events, event) == (1, 0)
    assert events.register(event["id"], make_member(members)["id"])["status"] == "waitlisted"


def test_only_a_confirmed_registration_checks_in(events, members):
    event = new_event(events, capacity=1)
    seated, waiting, gone, stranger = (make_member(members) for _ in range(4))
    register_all(events, event, [seated, waiting, gone])
    events.cancel_registration(event["id"], gone["id"])
    before = registrations(events, event)
    recorded = list(events.outbox.messages)

    for member, status in ((waiting, "waitlisted"), (gone, "cancelled")):
        with pytest.raises(Conflict) as raised:
            events.check_in(event["id"], member["id"])
        assert str(raised.value) == \
            f"only a confirmed registration can check in; this one is {status}"
    with pytest.raises(NotFound):
        events.check_in(event["id"], stranger["id"])
    with pytest.raises(ValidationError) as raised:
        events.check_in("x", seated["id"])
    assert set(raised.value.errors) == {"event_id"}

    assert {r["member_id"]: r["status"] for r in registrations(events, event)} == \
        {seated["id"]: "confirmed", waiting["id"]: "waitlisted", gone["id"]: "cancelled"}
    assert registrations(events, event) == before
    assert events.outbox.messages == recorded
    assert events.outbox.of_type("attendance_recorded") == []


# -- cancel_event with registrations ---------------------------------------------------------

def test_cancelling_an_event_tells_everyone_registered_and_closes_registration(events, members):
    event = new_event(events, capacity=2)
    attended, seated, waiting, gone, late = (make_member(members) for _ in range(5))
    register_all(events, event, [attended, seated, waiting, gone])
    events.check_in(event["id"], attended["id"])
    events.cancel_registration(event["id"], gone["id"])
    before = registrations(events, event)
    recorded = len(events.outbox.messages)

    cancelled = events.cancel_event(event["id"], "Gedung tergenang banjir")
    assert cancelled == {**events.get_event(event["id"]), "status": "cancelled"}
    assert since(events, recorded) == [("event_cancelled", {
        **cancelled, "reason": "Gedung tergenang banjir",
        "member_ids": [attended["id"], seated["id"], waiting["id"]]})]

    recorded = list(events.outbox.messages)
    with pytest.raises(Conflict) as raised:
        events.register(event["id"], late["id"])
    assert str(raised.value) == "the event is cancelled, not open for registration"
    for call in (events.cancel_registration, events.check_in):
        with pytest.raises(Conflict) as raised:
            call(event["id"], seated["id"])
        assert str(raised.value) == "the event is cancelled"
    assert registrations(events, event) == before
    assert counts(events, event) == (2, 1)
    assert events.outbox.messages == recorded


# -- list_registrations ------------------------------------------------------------------------

def test_list_registrations_filters_by_status_and_pages_in_registration_order(events, members):
    event = new_event(events, capacity=2)
    other = new_event(events)
    people = [make_member(members) for _ in range(5)]
    made = register_all(events, event, people)
    events.register(other["id"], people[0]["id"])  # another event's: never listed here
    made[4] = events.cancel_registration(event["id"], people[4]["id"])
    assert registrations(events, event) == made
    assert registrations(events, event, status="confirmed") == made[:2]
    assert registrations(events, event, status="waitlisted") == made[2:4]
    assert registrations(events, event, status="cancelled") == [made[4]]
    assert registrations(events, event, status="attended") == []

    pages, cursor = [], None
    while True:
        page = events.list_registrations(event["id"], {"limit": 2, "cursor": cursor})
        pages.append([r["id"] for r in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [[made[0]["id"], made[1]["id"]], [made[2]["id"], made[3]["id"]],
                     [made[4]["id"]]]
    # No filters at all: the default page holds them all.
    assert events.list_registrations(event["id"]) == {"items": made, "next_cursor": None}


def test_list_registrations_errors(events):
    event = new_event(events)
    with pytest.raises(NotFound) as raised:
        events.list_registrations(UNKNOWN_ID)
    assert str(raised.value) == f"no event {UNKNOWN_ID}"
    with pytest.raises(ValidationError) as raised:
        events.list_registrations("x")
    assert set(raised.value.errors) == {"event_id"}
    for filters, field in (({"status": "pending"}, "status"), ({"member_id": "x"}, "member_id"),
                           ({"limit": 500}, "limit"), ({"limit": 0}, "limit"),
                           ({"cursor": "not a cursor"}, "cursor"), ([], "filters")):
        with pytest.raises(ValidationError) as raised:
            events.list_registrations(event["id"], filters)
        assert set(raised.value.errors) == {field}, filters
