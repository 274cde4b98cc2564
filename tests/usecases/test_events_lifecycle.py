"""Events' own life, in-process: create_event's bad input (each row a ValidationError
naming the field, nothing written), the event state machine (a move it does not allow
is a Conflict that changes nothing and records nothing; an allowed move records its
message), and list_events' filters, order and pages. A test sees only its own events
(its transaction is rolled back), so lists and counts are exact.

    draft --publish--> published;  draft/published --cancel--> cancelled

The RPC tier (tests/events/test_events_rpc.py) keeps each method's wiring once.
"""
import uuid

import pytest

from services.events.service import EventsService
from shared.errors import Conflict, NotFound, ValidationError
from tests.support.factories import event_data, in_days
from tests.support.usecases import InWorker, MembersStub, ids

UNKNOWN_ID = str(uuid.uuid4())


@pytest.fixture
def events(session_of):
    return InWorker(EventsService, session_of("events"), members=MembersStub())


def only_field(errors, field):
    """Every field a ValidationError names is ``field`` (or a part of it: ``subsectors.0``)."""
    return bool(errors) and all(key == field or key.startswith(field + ".") for key in errors)


def refused(call, *args):
    """The fields of the ValidationError ``call`` raises."""
    with pytest.raises(ValidationError) as raised:
        call(*args)
    return raised.value.errors


# -- create_event and get_event ----------------------------------------------------------

def test_a_training_with_every_option(events):
    event = events.create_event(event_data(
        title="Pelatihan Desain Grafis Dasar", kind="training", capacity=25,
        description="Persiapan uji kompetensi desainer grafis muda.",
        registration_closes_at=in_days(8), members_only=False,
        subsectors=["desain_komunikasi_visual", "aplikasi", "aplikasi"],
        scheme_code="DKV-JUNIOR"))
    assert event["kind"] == "training" and event["scheme_code"] == "DKV-JUNIOR"
    assert event["subsectors"] == ["aplikasi", "desain_komunikasi_visual"]
    assert event["members_only"] is False and event["capacity"] == 25
    assert event["description"] == "Persiapan uji kompetensi desainer grafis muda."
    assert event["registration_closes_at"] < event["starts_at"]  # both UTC, same format
    assert event["status"] == "draft"
    assert events.get_event(event["id"]) == event
    assert events.outbox.messages == []  # a draft tells nobody


@pytest.mark.parametrize("change, field", [
    (lambda d: {"organiser": "HIEKRAF"}, "organiser"),
    (lambda d: {"kind": "seminar"}, "kind"),
    (lambda d: {"subsectors": ["sulap"]}, "subsectors"),
    (lambda d: {"subsectors": "kuliner"}, "subsectors"),
    (lambda d: {"ends_at": in_days(9)}, "ends_at"),
    (lambda d: {"ends_at": d["starts_at"]}, "ends_at"),
    (lambda d: {"capacity": 0}, "capacity"),
    (lambda d: {"capacity": "10"}, "capacity"),
    (lambda d: {"capacity": True}, "capacity"),
    (lambda d: {"capacity": 2.5}, "capacity"),
    (lambda d: {"registration_closes_at": in_days(11)}, "registration_closes_at"),
    (lambda d: {"starts_at": in_days(-1), "ends_at": in_days(1)}, "starts_at"),
    (lambda d: {"starts_at": "next week"}, "starts_at"),
    # No offset: refused, not guessed (an organiser in Balikpapan means WITA).
    (lambda d: {"starts_at": d["starts_at"][:19]}, "starts_at"),
    (lambda d: {"ends_at": d["ends_at"][:19]}, "ends_at"),
    (lambda d: {"registration_closes_at": d["starts_at"][:10]}, "registration_closes_at"),
    (lambda d: {"scheme_code": "dkv-junior", "kind": "training"}, "scheme_code"),
    (lambda d: {"scheme_code": "DKV-JUNIOR", "kind": "workshop"}, "scheme_code"),
    (lambda d: {"title": ""}, "title"),
    (lambda d: {"venue": None}, "venue"),
    (lambda d: {"members_only": "yes"}, "members_only"),
    (lambda d: {"description": "x" * 100_000}, "description"),
])
def test_create_event_rejects_bad_input_and_writes_nothing(events, change, field):
    data = event_data()
    data.update(change(data))
    errors = refused(events.create_event, data)
    assert only_field(errors, field), errors
    assert events.list_events() == {"items": [], "next_cursor": None}
    assert events.outbox.messages == []


@pytest.mark.parametrize("field", ["title", "kind", "venue", "city", "starts_at", "ends_at",
                                   "capacity"])
def test_create_event_names_each_missing_field(events, field):
    data = event_data()
    del data[field]
    assert set(refused(events.create_event, data)) == {field}
    assert events.list_events()["items"] == []


@pytest.mark.parametrize("data", [["title"], "an event", 42])
def test_create_event_needs_a_dict(events, data):
    assert set(refused(events.create_event, data)) == {"data"}
    assert events.list_events()["items"] == []


@pytest.mark.parametrize("event_id", ["not-a-uuid", "", 42, None, [UNKNOWN_ID]])
def test_get_event_rejects_a_malformed_id(events, event_id):
    assert set(refused(events.get_event, event_id)) == {"event_id"}


def test_get_event_of_an_unknown_id_is_not_found(events):
    with pytest.raises(NotFound) as raised:
        events.get_event(UNKNOWN_ID)
    assert str(raised.value) == f"no event {UNKNOWN_ID}"


# -- the event state machine: publish_event and cancel_event -------------------------------

ACTIONS = ("publish", "cancel")
ALLOWED = {("draft", "publish"), ("draft", "cancel"), ("published", "cancel")}
CONFLICTS = [(status, action) for status in ("draft", "published", "cancelled")
             for action in ACTIONS if (status, action) not in ALLOWED]


def move(events, action, event_id):
    if action == "publish":
        return events.publish_event(event_id)
    return events.cancel_event(event_id, "Narasumber berhalangan")


def event_in(events, status):
    """An event in ``status``, reached through the allowed moves."""
    event = events.create_event(event_data())
    if status in ("published", "cancelled"):
        event = events.publish_event(event["id"])
    if status == "cancelled":
        event = events.cancel_event(event["id"], "Hujan badai")
    assert event["status"] == status
    return event


def test_conflicts_are_exactly_the_moves_from_a_later_state():
    assert CONFLICTS == [("published", "publish"), ("cancelled", "publish"),
                         ("cancelled", "cancel")]


@pytest.mark.parametrize("status, action", CONFLICTS, ids=[f"{s}-{a}" for s, a in CONFLICTS])
def test_a_move_the_state_machine_does_not_allow_is_a_conflict_that_changes_nothing(
        events, status, action):
    event = event_in(events, status)
    recorded = list(events.outbox.messages)

    with pytest.raises(Conflict) as raised:
        move(events, action, event["id"])

    assert str(raised.value) == f"cannot {action} an event that is {status}"
    assert events.get_event(event["id"]) == event
    assert events.outbox.messages == recorded


def test_draft_to_published_to_cancelled_records_each_message(events):
    draft = events.create_event(event_data())
    published = events.publish_event(draft["id"])
    assert published == {**draft, "status": "published"}
    assert events.outbox.messages == [("event_published", published)]

    cancelled = events.cancel_event(draft["id"], "Gedung dipakai untuk pengungsian banjir")
    assert cancelled == {**draft, "status": "cancelled"}
    assert events.outbox.messages == [
        ("event_published", published),
        ("event_cancelled", {**cancelled, "member_ids": [],
                             "reason": "Gedung dipakai untuk pengungsian banjir"})]
    assert events.get_event(draft["id"]) == cancelled


def test_a_draft_can_be_cancelled_and_then_never_published(events):
    draft = events.create_event(event_data())
    cancelled = events.cancel_event(draft["id"], "Narasumber berhalangan")
    assert cancelled == {**draft, "status": "cancelled"}
    with pytest.raises(Conflict):
        events.publish_event(draft["id"])
    assert events.outbox.types() == ["event_cancelled"]
    assert events.outbox.of_type("event_published") == []


@pytest.mark.parametrize("reason", ["", "   ", None, 5, "x" * 501, ["alasan"]])
def test_cancel_event_needs_a_reason_and_changes_nothing_without_one(events, reason):
    draft = events.create_event(event_data())
    assert set(refused(events.cancel_event, draft["id"], reason)) == {"reason"}
    assert events.get_event(draft["id"]) == draft
    assert events.outbox.messages == []


def test_publish_and_cancel_with_malformed_or_unknown_ids_change_nothing(events):
    draft = events.create_event(event_data())
    assert set(refused(events.publish_event, "nope")) == {"event_id"}
    assert set(refused(events.cancel_event, "nope", "alasan")) == {"event_id"}
    with pytest.raises(NotFound) as raised:
        events.publish_event(UNKNOWN_ID)
    assert str(raised.value) == f"no event {UNKNOWN_ID}"
    with pytest.raises(NotFound):
        events.cancel_event(UNKNOWN_ID, "alasan")
    assert events.list_events() == {"items": [draft], "next_cursor": None}
    assert events.outbox.messages == []


# -- list_events ---------------------------------------------------------------------------

@pytest.fixture
def listed(events):
    """Four events, by start: dialog (draft), training (kuliner), workshop (musik),
    exhibition (cancelled)."""
    dialog = events.create_event(event_data(city="Samarinda", kind="public_dialog",
                                            starts_at=in_days(3), ends_at=in_days(3.1)))
    training = events.publish_event(events.create_event(event_data(
        city="Samarinda", kind="training", subsectors=["kuliner"], starts_at=in_days(5),
        ends_at=in_days(5.1)))["id"])
    workshop = events.publish_event(events.create_event(event_data(
        city="Samarinda", kind="workshop", subsectors=["musik"], starts_at=in_days(7),
        ends_at=in_days(7.1)))["id"])
    exhibition = events.create_event(event_data(city="Samarinda", kind="exhibition",
                                                starts_at=in_days(9), ends_at=in_days(12)))
    events.publish_event(exhibition["id"])
    exhibition = events.cancel_event(exhibition["id"], "Venue direnovasi")
    return [dialog, training, workshop, exhibition]


def test_list_events_is_ordered_by_start_and_by_city_case_insensitively(events, listed):
    bontang = events.create_event(event_data(city="Bontang", starts_at=in_days(4),
                                             ends_at=in_days(4.1)))
    assert events.list_events({"city": "SAMARINDA"}) == {"items": listed, "next_cursor": None}
    assert events.list_events({"city": "bontang"}) == {"items": [bontang], "next_cursor": None}
    assert ids(events.list_events()) == [listed[0]["id"], bontang["id"]] + \
        [event["id"] for event in listed[1:]]


def test_list_events_filters(events, listed):
    dialog, training, workshop, exhibition = listed

    def listing(**filters):
        return ids(events.list_events(filters))

    assert listing(kind="training") == [training["id"]]
    assert listing(kind="public_dialog") == [dialog["id"]]
    # An event that names no subsectors is for every subsector.
    assert listing(subsector="kuliner") == [dialog["id"], training["id"], exhibition["id"]]
    assert listing(subsector="musik") == [dialog["id"], workshop["id"], exhibition["id"]]
    assert listing(status="draft") == [dialog["id"]]
    assert listing(status="published") == [training["id"], workshop["id"]]
    assert listing(status="cancelled") == [exhibition["id"]]
    assert listing(starts_after=in_days(4)) == [training["id"], workshop["id"], exhibition["id"]]
    assert listing(starts_before=in_days(6)) == [dialog["id"], training["id"]]
    assert listing(starts_after=in_days(4), starts_before=in_days(8),
                   subsector="musik") == [workshop["id"]]
    assert listing(kind="training", subsector="musik") == []
    assert listing(city="Bontang") == []


def test_list_events_pages_with_a_cursor(events, listed):
    first = events.list_events({"limit": 3})
    assert first["items"] == listed[:3] and first["next_cursor"]
    second = events.list_events({"limit": 3, "cursor": first["next_cursor"]})
    assert second == {"items": listed[3:], "next_cursor": None}
    # A page that ends exactly at the last event says so.
    assert events.list_events({"limit": 4})["next_cursor"] is None
    ones, cursor = [], None
    while True:
        page = events.list_events({"limit": 1, "cursor": cursor, "subsector": "musik"})
        assert len(page["items"]) == 1
        ones += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert ones == [listed[0]["id"], listed[2]["id"], listed[3]["id"]]


def test_events_starting_together_are_ordered_by_id(events):
    starts, ends = in_days(4), in_days(4.5)
    made = [events.create_event(event_data(starts_at=starts, ends_at=ends)) for _ in range(3)]
    assert ids(events.list_events()) == sorted(event["id"] for event in made)
    first = events.list_events({"limit": 2})
    rest = events.list_events({"limit": 2, "cursor": first["next_cursor"]})
    assert ids(first) + ids(rest) == sorted(event["id"] for event in made)


@pytest.mark.parametrize("filters, field", [
    ({"kind": "seminar"}, "kind"), ({"subsector": "sulap"}, "subsector"),
    ({"status": "open"}, "status"), ({"starts_after": "tomorrow"}, "starts_after"),
    ({"starts_before": 2031}, "starts_before"), ({"limit": 0}, "limit"),
    ({"limit": 201}, "limit"), ({"cursor": "not a cursor"}, "cursor"),
    ({"colour": "red"}, "colour"), ("kuliner", "filters"),
])
def test_list_events_rejects_bad_filters(events, filters, field):
    assert set(refused(events.list_events, filters)) == {field}
