"""Creating, publishing, cancelling, getting and listing events through a real RPC
client, against the real broker and database, with an outside subscriber listening."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.support.calls import names_field, remote_error, validation_fields
from tests.support.factories import event_data, in_days, make_event, tag

EVENT_FIELDS = {"id", "title", "kind", "description", "venue", "city", "starts_at", "ends_at",
                "capacity", "registration_closes_at", "members_only", "subsectors",
                "scheme_code", "status", "confirmed_count", "waitlist_count", "created_at"}
WITA = timezone(timedelta(hours=8))  # Balikpapan's time


def parse_time(value):
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0), value
    return parsed


def ids(page):
    return [item["id"] for item in page["items"]]


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


def test_a_training_with_every_option(erpc):
    event = erpc.events.create_event(event_data(
        title="Pelatihan Desain Grafis Dasar", kind="training", capacity=25,
        description="Persiapan uji kompetensi desainer grafis muda.",
        registration_closes_at=in_days(8), members_only=False,
        subsectors=["desain_komunikasi_visual", "aplikasi", "aplikasi"],
        scheme_code="DKV-JUNIOR"))
    assert event["kind"] == "training" and event["scheme_code"] == "DKV-JUNIOR"
    assert event["subsectors"] == ["aplikasi", "desain_komunikasi_visual"]
    assert event["members_only"] is False and event["capacity"] == 25
    assert parse_time(event["registration_closes_at"]) < parse_time(event["starts_at"])
    assert erpc.events.get_event(event["id"]) == event


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
def test_create_event_rejects_bad_input_and_writes_nothing(erpc, change, field):
    city = f"Bontang {tag()}"
    data = event_data(city=city)
    data.update(change(data))
    errors = validation_fields(erpc.events.create_event, data)
    assert names_field(errors, field), errors
    assert erpc.events.list_events({"city": city})["items"] == []


@pytest.mark.parametrize("field", ["title", "kind", "venue", "city", "starts_at", "ends_at",
                                   "capacity"])
def test_create_event_names_each_missing_field(erpc, field):
    data = event_data()
    del data[field]
    assert names_field(validation_fields(erpc.events.create_event, data), field)


def test_create_event_needs_a_dict(erpc):
    assert names_field(validation_fields(erpc.events.create_event, ["title"]), "data")


def test_get_event_errors(erpc):
    assert names_field(validation_fields(erpc.events.get_event, "not-a-uuid"), "event_id")
    assert remote_error(erpc.events.get_event, str(uuid.uuid4())).exc_type == "NotFound"


# -- publish_event and cancel_event ------------------------------------------------------

def test_draft_to_published_to_cancelled(erpc, event_messages):
    draft = make_event(erpc, publish=False)
    published = erpc.events.publish_event(draft["id"])
    assert published == {**draft, "status": "published"}
    [message] = event_messages.wait_for("event_published", id=draft["id"])
    assert message["data"] == published
    assert remote_error(erpc.events.publish_event, draft["id"]).exc_type == "Conflict"

    cancelled = erpc.events.cancel_event(draft["id"], "Gedung dipakai untuk pengungsian banjir")
    assert cancelled == {**draft, "status": "cancelled"}
    [message] = event_messages.wait_for("event_cancelled", id=draft["id"])
    assert message["data"] == {**cancelled, "member_ids": [],
                               "reason": "Gedung dipakai untuk pengungsian banjir"}
    for call, args in ((erpc.events.cancel_event, (draft["id"], "lagi")),
                       (erpc.events.publish_event, (draft["id"],))):
        assert remote_error(call, *args).exc_type == "Conflict"
    assert erpc.events.get_event(draft["id"])["status"] == "cancelled"


def test_a_draft_can_be_cancelled_and_then_never_published(erpc, event_messages):
    draft = make_event(erpc, publish=False)
    assert erpc.events.cancel_event(draft["id"], "Narasumber berhalangan")["status"] == "cancelled"
    assert remote_error(erpc.events.publish_event, draft["id"]).exc_type == "Conflict"
    assert event_messages.of_type("event_published", id=draft["id"]) == []


def test_publish_and_cancel_errors_change_nothing(erpc):
    draft = make_event(erpc, publish=False)
    for reason in ("", "   ", None, 5, "x" * 501):
        assert names_field(validation_fields(erpc.events.cancel_event, draft["id"], reason),
                           "reason")
    for call, args in ((erpc.events.publish_event, ("nope",)),
                       (erpc.events.cancel_event, ("nope", "alasan"))):
        assert names_field(validation_fields(call, *args), "event_id")
    unknown = str(uuid.uuid4())
    assert remote_error(erpc.events.publish_event, unknown).exc_type == "NotFound"
    assert remote_error(erpc.events.cancel_event, unknown, "alasan").exc_type == "NotFound"
    assert erpc.events.get_event(draft["id"])["status"] == "draft"


# -- list_events -------------------------------------------------------------------------

@pytest.fixture
def listed(erpc):
    """Four events in a city of their own, by start: dialog, training, workshop, exhibition."""
    city = f"Samarinda {tag()}"
    dialog = make_event(erpc, publish=False, city=city, kind="public_dialog",
                        starts_at=in_days(3), ends_at=in_days(3.1))
    training = make_event(erpc, city=city, kind="training", subsectors=["kuliner"],
                          starts_at=in_days(5), ends_at=in_days(5.1))
    workshop = make_event(erpc, city=city, kind="workshop", subsectors=["musik"],
                          starts_at=in_days(7), ends_at=in_days(7.1))
    exhibition = make_event(erpc, city=city, kind="exhibition", starts_at=in_days(9),
                            ends_at=in_days(12))
    erpc.events.cancel_event(exhibition["id"], "Venue direnovasi")
    return city, [dialog, training, workshop, exhibition]


def test_list_events_by_city_is_case_insensitive_and_ordered_by_start(erpc, listed):
    city, events = listed
    page = erpc.events.list_events({"city": city.upper()})
    assert ids(page) == [event["id"] for event in events]
    assert page["next_cursor"] is None
    assert all(set(item) == EVENT_FIELDS for item in page["items"])


def test_list_events_filters(erpc, listed):
    city, (dialog, training, workshop, exhibition) = listed

    def listing(**filters):
        return ids(erpc.events.list_events({"city": city, **filters}))

    assert listing(kind="training") == [training["id"]]
    # An event that names no subsectors is for every subsector.
    assert listing(subsector="kuliner") == [dialog["id"], training["id"], exhibition["id"]]
    assert listing(subsector="musik") == [dialog["id"], workshop["id"], exhibition["id"]]
    assert listing(status="draft") == [dialog["id"]]
    assert listing(status="cancelled") == [exhibition["id"]]
    assert listing(starts_after=in_days(4)) == [training["id"], workshop["id"], exhibition["id"]]
    assert listing(starts_before=in_days(6)) == [dialog["id"], training["id"]]
    assert listing(starts_after=in_days(4), starts_before=in_days(8),
                   subsector="musik") == [workshop["id"]]


def test_list_events_pages_with_a_cursor(erpc, listed):
    city, events = listed
    seen, cursor = [], None
    while True:
        page = erpc.events.list_events({"city": city, "limit": 3, "cursor": cursor})
        seen += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [event["id"] for event in events]


def test_events_starting_together_are_ordered_by_id(erpc):
    city = f"Tenggarong {tag()}"
    starts, ends = in_days(4), in_days(4.5)
    made = [make_event(erpc, city=city, starts_at=starts, ends_at=ends) for _ in range(3)]
    assert ids(erpc.events.list_events({"city": city})) == sorted(e["id"] for e in made)


@pytest.mark.parametrize("filters, field", [
    ({"kind": "seminar"}, "kind"), ({"subsector": "sulap"}, "subsector"),
    ({"status": "open"}, "status"), ({"starts_after": "tomorrow"}, "starts_after"),
    ({"starts_before": 2031}, "starts_before"), ({"limit": 0}, "limit"),
    ({"limit": 201}, "limit"), ({"cursor": "not a cursor"}, "cursor"),
    ({"colour": "red"}, "colour"), ("kuliner", "filters"),
])
def test_list_events_rejects_bad_filters(erpc, filters, field):
    assert names_field(validation_fields(erpc.events.list_events, filters), field)
