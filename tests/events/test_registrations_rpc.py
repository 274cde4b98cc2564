"""The wiring of register, cancel_registration, check_in and list_registrations, once
each, through a real RPC client against the real broker and PostgreSQL, with members
running beside events and an outside subscriber listening to every events message;
and the races only running services show: many registering at once.

Every rule (seats then waitlist, refusals, promotion and positions, check-in once,
cancelling an event, filters and pages) is a use case, tested in-process with exact
messages in tests/usecases/test_events_registrations.py."""
import eventlet
from nameko.standalone.rpc import ClusterRpcProxy

from tests.support.factories import make_event, make_member
from tests.support.identities import admin_context

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


# -- the wiring of each method ----------------------------------------------------------------

def test_register_and_list_registrations(erpc, event_messages):
    event = make_event(erpc, capacity=1, kind="training", scheme_code="DKV-JUNIOR")
    first, second = (erpc.events.register(event["id"], make_member(erpc)["id"])
                     for _ in range(2))
    assert set(first) == REGISTRATION_FIELDS
    assert (first["status"], first["position"]) == ("confirmed", None)
    assert (second["status"], second["position"]) == ("waitlisted", 1)
    assert registrations(erpc, event) == [first, second]
    assert erpc.events.list_registrations(event["id"], {"status": "waitlisted"}) == \
        {"items": [second], "next_cursor": None}
    assert counts(erpc, event) == (1, 1)
    [confirmed] = event_messages.wait_for("registration_confirmed", id=first["id"])
    assert confirmed["data"] == message_for(first, event)
    [waitlisted] = event_messages.wait_for("registration_waitlisted", id=second["id"])
    assert waitlisted["data"] == message_for(second, event)


def test_cancel_registration_promotes_the_first_waiting(erpc, event_messages):
    event = make_event(erpc, capacity=1)
    seated, waiting = make_member(erpc), make_member(erpc)
    seat = erpc.events.register(event["id"], seated["id"])
    place = erpc.events.register(event["id"], waiting["id"])

    cancelled = erpc.events.cancel_registration(event["id"], seated["id"])
    assert cancelled == {**seat, "status": "cancelled"}
    [message] = event_messages.wait_for("registration_cancelled", id=seat["id"])
    assert message["data"] == message_for(cancelled, event)
    [promoted] = event_messages.wait_for("registration_promoted", id=place["id"])
    assert promoted["data"] == message_for({**place, "status": "confirmed", "position": None},
                                           event)
    assert counts(erpc, event) == (1, 0)


def test_check_in_records_attendance(erpc, event_messages):
    event = make_event(erpc, capacity=1)
    member = make_member(erpc)
    registration = erpc.events.register(event["id"], member["id"])
    attended = erpc.events.check_in(event["id"], member["id"])
    assert attended == {**registration, "status": "attended",
                        "checked_in_at": attended["checked_in_at"]}
    [message] = event_messages.wait_for("attendance_recorded", id=registration["id"])
    assert message["data"] == message_for(attended, event)


# -- races --------------------------------------------------------------------------------------

def test_fifty_at_once_for_ten_seats(erpc, base_config, event_messages):
    event = make_event(erpc, capacity=10)
    members = [make_member(erpc) for _ in range(50)]

    def register(member):
        with ClusterRpcProxy(base_config, context_data=admin_context(), timeout=60) as own:
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
        with ClusterRpcProxy(base_config, context_data=admin_context(), timeout=60) as own:
            try:
                return own.events.register(event["id"], member["id"])["status"]
            except Exception as error:
                return type(error).__name__

    outcomes = list(eventlet.GreenPool(5).imap(register, range(5)))
    assert sorted(outcomes) == ["Conflict"] * 4 + ["confirmed"]
    assert counts(erpc, event) == (1, 0)
    assert [r["member_id"] for r in registrations(erpc, event)] == [member["id"]]
