"""Registration, waitlists, cancellation, check-in and cancelling an event, through a
real RPC client against the real broker and PostgreSQL, with members running beside
events and an outside subscriber listening to every events message."""
import uuid

import eventlet
import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from tests.support.calls import names_field, remote_error, validation_fields
from tests.support.factories import in_days, make_event, make_member, tag

REGISTRATION_FIELDS = {"id", "event_id", "member_id", "status", "position", "registered_at",
                       "checked_in_at"}


def message_for(registration, event):
    """What a registration message must carry: the record plus the event's facts."""
    return {**registration, "event_title": event["title"], "kind": event["kind"],
            "scheme_code": event["scheme_code"], "starts_at": event["starts_at"],
            "venue": event["venue"], "city": event["city"]}


def registrations(erpc, event, **filters):
    return erpc.events.list_registrations(event["id"], {"limit": 200, **filters})["items"]


def waitlist(erpc, event):
    """``[(member_id, position), ...]`` in the order list_registrations gives them."""
    return [(r["member_id"], r["position"])
            for r in registrations(erpc, event, status="waitlisted")]


def counts(erpc, event):
    current = erpc.events.get_event(event["id"])
    return current["confirmed_count"], current["waitlist_count"]


def register_all(erpc, event, members):
    return [erpc.events.register(event["id"], member["id"]) for member in members]


# -- register ---------------------------------------------------------------------------

def test_seats_first_then_the_waitlist(erpc, event_messages):
    city = f"Balikpapan {tag()}"
    event = make_event(erpc, capacity=1, kind="training", scheme_code="DKV-JUNIOR", city=city)
    first, second, third = register_all(erpc, event, [make_member(erpc) for _ in range(3)])
    assert set(first) == REGISTRATION_FIELDS
    assert (first["status"], first["position"], first["checked_in_at"]) == ("confirmed", None, None)
    assert (second["status"], second["position"]) == ("waitlisted", 1)
    assert (third["status"], third["position"]) == ("waitlisted", 2)
    assert counts(erpc, event) == (1, 2)
    [listed] = erpc.events.list_events({"city": city})["items"]
    assert (listed["confirmed_count"], listed["waitlist_count"]) == (1, 2)
    [confirmed] = event_messages.wait_for("registration_confirmed", id=first["id"])
    assert confirmed["data"] == message_for(first, event)
    [waitlisted] = event_messages.wait_for("registration_waitlisted", id=second["id"])
    assert waitlisted["data"] == message_for(second, event)


def test_registration_needs_a_published_open_event(erpc):
    member = make_member(erpc)
    draft = make_event(erpc, publish=False)
    cancelled = make_event(erpc)
    erpc.events.cancel_event(cancelled["id"], "Hujan badai")
    closed = make_event(erpc, registration_closes_at=in_days(-0.01))
    for event in (draft, cancelled, closed):
        assert remote_error(erpc.events.register, event["id"], member["id"]).exc_type == "Conflict"
        assert registrations(erpc, event) == []
        assert counts(erpc, event) == (0, 0)


def test_registering_twice_is_a_conflict_whether_seated_or_waiting(erpc):
    event = make_event(erpc, capacity=1)
    seated, waiting = make_member(erpc), make_member(erpc)
    register_all(erpc, event, [seated, waiting])
    for member in (seated, waiting):
        assert remote_error(erpc.events.register, event["id"], member["id"]).exc_type == "Conflict"
    assert counts(erpc, event) == (1, 1)
    assert len(registrations(erpc, event)) == 2


def test_unknown_or_malformed_ids(erpc):
    event, member = make_event(erpc), make_member(erpc)
    unknown = str(uuid.uuid4())
    assert remote_error(erpc.events.register, event["id"], unknown).exc_type == "NotFound"
    assert remote_error(erpc.events.register, unknown, member["id"]).exc_type == "NotFound"
    assert names_field(validation_fields(erpc.events.register, "x", member["id"]), "event_id")
    assert names_field(validation_fields(erpc.events.register, event["id"], 42), "member_id")
    assert registrations(erpc, event) == [] and counts(erpc, event) == (0, 0)


def test_a_members_only_event_needs_an_active_member(erpc):
    event = make_event(erpc, members_only=True)
    pending = make_member(erpc, activate=False)
    assert remote_error(erpc.events.register, event["id"], pending["id"]).exc_type == "Forbidden"
    assert registrations(erpc, event) == []
    erpc.members.activate(pending["id"])
    # Right after activation, before events may have heard of it: registering works.
    assert erpc.events.register(event["id"], pending["id"])["status"] == "confirmed"


def test_a_public_event_accepts_a_pending_member(erpc):
    event = make_event(erpc, members_only=False, kind="public_dialog")
    pending = make_member(erpc, activate=False)
    assert erpc.events.register(event["id"], pending["id"])["status"] == "confirmed"


@pytest.mark.parametrize("members_only", [True, False])
def test_an_event_for_some_subsectors_takes_only_their_members(erpc, members_only):
    event = make_event(erpc, members_only=members_only, subsectors=["musik", "fotografi"])
    cook = make_member(erpc, subsector="kuliner")
    musician = make_member(erpc, subsector="musik")
    assert remote_error(erpc.events.register, event["id"], cook["id"]).exc_type == "Forbidden"
    assert erpc.events.register(event["id"], musician["id"])["status"] == "confirmed"
    assert counts(erpc, event) == (1, 0)


def test_registering_again_after_cancelling(erpc):
    event, member = make_event(erpc), make_member(erpc)
    first = erpc.events.register(event["id"], member["id"])
    erpc.events.cancel_registration(event["id"], member["id"])
    again = erpc.events.register(event["id"], member["id"])
    assert again["id"] != first["id"] and again["status"] == "confirmed"
    assert [r["status"] for r in registrations(erpc, event)] == ["cancelled", "confirmed"]


def test_fifty_at_once_for_ten_seats(erpc, base_config, event_messages):
    event = make_event(erpc, capacity=10)
    members = [make_member(erpc) for _ in range(50)]

    def register(member):
        with ClusterRpcProxy(base_config, timeout=60) as own:
            return own.events.register(event["id"], member["id"])

    results = list(eventlet.GreenPool(50).imap(register, members))
    assert sorted(r["status"] for r in results) == ["confirmed"] * 10 + ["waitlisted"] * 40
    assert sorted(r["position"] for r in results if r["status"] == "waitlisted") == \
        list(range(1, 41))
    assert counts(erpc, event) == (10, 40)
    # Listed by registration time, the waitlist is in position order.
    assert [position for _, position in waitlist(erpc, event)] == list(range(1, 41))
    event_messages.wait_for("registration_confirmed", count=10, event_id=event["id"])
    event_messages.wait_for("registration_waitlisted", count=40, event_id=event["id"])


def test_one_member_registering_five_times_at_once_gets_one_place(erpc, base_config):
    event, member = make_event(erpc, capacity=3), make_member(erpc)

    def register(_):
        with ClusterRpcProxy(base_config, timeout=60) as own:
            try:
                return own.events.register(event["id"], member["id"])["status"]
            except Exception as error:
                return type(error).__name__

    outcomes = list(eventlet.GreenPool(5).imap(register, range(5)))
    assert sorted(outcomes) == ["Conflict"] * 4 + ["confirmed"]
    assert counts(erpc, event) == (1, 0)


# -- cancel_registration -------------------------------------------------------------------

def test_a_cancelled_seat_promotes_the_first_waiting_and_positions_stay_contiguous(
        erpc, event_messages):
    event = make_event(erpc, capacity=2)
    m1, m2, m3, m4, m5, m6 = members = [make_member(erpc) for _ in range(6)]
    r1, _, r3, *_ = register_all(erpc, event, members)

    cancelled = erpc.events.cancel_registration(event["id"], m1["id"])
    assert cancelled == {**r1, "status": "cancelled"}
    [promoted] = event_messages.wait_for("registration_promoted", event_id=event["id"])
    assert promoted["data"] == message_for({**r3, "status": "confirmed", "position": None}, event)
    [message] = event_messages.wait_for("registration_cancelled", id=r1["id"])
    assert message["data"] == message_for(cancelled, event)
    assert [r["member_id"] for r in registrations(erpc, event, status="confirmed")] == \
        [m2["id"], m3["id"]]
    assert waitlist(erpc, event) == [(m4["id"], 1), (m5["id"], 2), (m6["id"], 3)]
    assert counts(erpc, event) == (2, 3)

    erpc.events.cancel_registration(event["id"], m5["id"])  # from the middle of the waitlist
    assert waitlist(erpc, event) == [(m4["id"], 1), (m6["id"], 2)]
    assert counts(erpc, event) == (2, 2)

    erpc.events.cancel_registration(event["id"], m2["id"])
    assert waitlist(erpc, event) == [(m6["id"], 1)]
    assert counts(erpc, event) == (2, 1)
    latecomer = make_member(erpc)
    assert erpc.events.register(event["id"], latecomer["id"])["position"] == 2
    event_messages.wait_for("registration_promoted", count=2, event_id=event["id"])
    assert len(event_messages.of_type("registration_promoted", event_id=event["id"])) == 2


def test_cancelling_with_nobody_waiting_frees_the_seat(erpc):
    event = make_event(erpc, capacity=1)
    first, second = make_member(erpc), make_member(erpc)
    erpc.events.register(event["id"], first["id"])
    erpc.events.cancel_registration(event["id"], first["id"])
    assert counts(erpc, event) == (0, 0)
    assert erpc.events.register(event["id"], second["id"])["status"] == "confirmed"


def test_cancel_registration_refusals(erpc):
    event = make_event(erpc, capacity=2)
    cancelled, attended, stranger = (make_member(erpc) for _ in range(3))
    register_all(erpc, event, [cancelled, attended])
    erpc.events.cancel_registration(event["id"], cancelled["id"])
    erpc.events.check_in(event["id"], attended["id"])
    for member in (cancelled, attended):
        assert remote_error(erpc.events.cancel_registration, event["id"],
                            member["id"]).exc_type == "Conflict"
    assert remote_error(erpc.events.cancel_registration, event["id"],
                        stranger["id"]).exc_type == "NotFound"
    assert remote_error(erpc.events.cancel_registration, str(uuid.uuid4()),
                        stranger["id"]).exc_type == "NotFound"
    assert names_field(validation_fields(erpc.events.cancel_registration, event["id"], "x"),
                       "member_id")
    assert counts(erpc, event) == (1, 0)


# -- check_in --------------------------------------------------------------------------------

def test_check_in_records_attendance_once(erpc, event_messages):
    event = make_event(erpc, capacity=1, kind="training", scheme_code="DKV-JUNIOR")
    member = make_member(erpc)
    registration = erpc.events.register(event["id"], member["id"])
    attended = erpc.events.check_in(event["id"], member["id"])
    assert attended["status"] == "attended" and attended["checked_in_at"] is not None
    assert attended == {**registration, "status": "attended",
                        "checked_in_at": attended["checked_in_at"]}
    assert erpc.events.check_in(event["id"], member["id"]) == attended
    [message] = event_messages.wait_for("attendance_recorded", id=registration["id"])
    assert message["data"] == message_for(attended, event)
    eventlet.sleep(1)  # time for a second message, were one ever sent
    assert len(event_messages.of_type("attendance_recorded", id=registration["id"])) == 1
    # An attended seat is still taken.
    assert counts(erpc, event) == (1, 0)
    assert erpc.events.register(event["id"], make_member(erpc)["id"])["status"] == "waitlisted"


def test_only_a_confirmed_registration_checks_in(erpc, event_messages):
    event = make_event(erpc, capacity=1)
    seated, waiting, gone, stranger = (make_member(erpc) for _ in range(4))
    register_all(erpc, event, [seated, waiting, gone])
    erpc.events.cancel_registration(event["id"], gone["id"])
    for member in (waiting, gone):
        assert remote_error(erpc.events.check_in, event["id"], member["id"]).exc_type == "Conflict"
    assert remote_error(erpc.events.check_in, event["id"], stranger["id"]).exc_type == "NotFound"
    assert names_field(validation_fields(erpc.events.check_in, "x", seated["id"]), "event_id")
    statuses = {r["member_id"]: r["status"] for r in registrations(erpc, event)}
    assert statuses == {seated["id"]: "confirmed", waiting["id"]: "waitlisted",
                        gone["id"]: "cancelled"}
    assert event_messages.of_type("attendance_recorded", event_id=event["id"]) == []


# -- cancel_event ------------------------------------------------------------------------------

def test_cancelling_an_event_tells_everyone_registered_and_closes_registration(
        erpc, event_messages):
    event = make_event(erpc, capacity=2)
    attended, seated, waiting, gone, late = (make_member(erpc) for _ in range(5))
    register_all(erpc, event, [attended, seated, waiting, gone])
    erpc.events.check_in(event["id"], attended["id"])
    erpc.events.cancel_registration(event["id"], gone["id"])
    before = registrations(erpc, event)

    cancelled = erpc.events.cancel_event(event["id"], "Gedung tergenang banjir")
    assert cancelled["status"] == "cancelled"
    [message] = event_messages.wait_for("event_cancelled", id=event["id"])
    assert message["data"]["member_ids"] == [attended["id"], seated["id"], waiting["id"]]
    assert message["data"]["reason"] == "Gedung tergenang banjir"
    assert {k: v for k, v in message["data"].items() if k not in ("member_ids", "reason")} == \
        cancelled

    assert remote_error(erpc.events.register, event["id"], late["id"]).exc_type == "Conflict"
    assert remote_error(erpc.events.cancel_registration, event["id"],
                        seated["id"]).exc_type == "Conflict"
    assert remote_error(erpc.events.check_in, event["id"], seated["id"]).exc_type == "Conflict"
    assert registrations(erpc, event) == before


# -- list_registrations ---------------------------------------------------------------------

def test_list_registrations_filters_by_status_and_pages_in_registration_order(erpc):
    event = make_event(erpc, capacity=2)
    members = [make_member(erpc) for _ in range(5)]
    made = register_all(erpc, event, members)
    erpc.events.cancel_registration(event["id"], members[4]["id"])
    assert [r["id"] for r in registrations(erpc, event)] == [r["id"] for r in made]
    assert [r["id"] for r in registrations(erpc, event, status="confirmed")] == \
        [made[0]["id"], made[1]["id"]]
    assert [r["id"] for r in registrations(erpc, event, status="cancelled")] == [made[4]["id"]]
    assert registrations(erpc, event, status="attended") == []
    seen, cursor = [], None
    while True:
        page = erpc.events.list_registrations(event["id"], {"limit": 2, "cursor": cursor})
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [r["id"] for r in made]


def test_list_registrations_errors(erpc):
    event = make_event(erpc)
    assert remote_error(erpc.events.list_registrations, str(uuid.uuid4())).exc_type == "NotFound"
    assert names_field(validation_fields(erpc.events.list_registrations, "x"), "event_id")
    for filters, field in (({"status": "pending"}, "status"), ({"member_id": "x"}, "member_id"),
                           ({"limit": 500}, "limit"), ([], "filters")):
        assert names_field(validation_fields(erpc.events.list_registrations, event["id"],
                                             filters), field)
