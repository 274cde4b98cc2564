"""Event and registration rules, with no I/O."""
import random
from datetime import datetime, timedelta, timezone

import pytest

from services.events import domain
from shared.errors import Conflict, ValidationError

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


# -- event lifecycle and plan ----------------------------------------------------------

@pytest.mark.parametrize("action, start, end", [
    ("publish", "draft", "published"), ("cancel", "draft", "cancelled"),
    ("cancel", "published", "cancelled"),
])
def test_allowed_event_transitions(action, start, end):
    assert domain.next_event_status(action, start) == end


@pytest.mark.parametrize("action, start", [
    ("publish", "published"), ("publish", "cancelled"), ("cancel", "cancelled"),
])
def test_any_other_event_transition_is_a_conflict(action, start):
    with pytest.raises(Conflict):
        domain.next_event_status(action, start)


def plan_problems(kind="workshop", starts=NOW + 24 * HOUR, ends=NOW + 26 * HOUR, closes=None,
                  scheme_code=None):
    try:
        domain.check_event_plan(kind, starts, ends, starts if closes is None else closes,
                                scheme_code, NOW)
    except ValidationError as error:
        return set(error.errors)
    return set()


def test_a_sound_plan_passes():
    assert plan_problems() == set()
    assert plan_problems(kind="training", scheme_code="DKV-JUNIOR",
                         closes=NOW - HOUR) == set()  # a closing time may be past already


@pytest.mark.parametrize("plan, fields", [
    ({"starts": NOW, "ends": NOW + HOUR}, {"starts_at"}),
    ({"ends": NOW + 24 * HOUR}, {"ends_at"}),
    ({"ends": NOW + 23 * HOUR}, {"ends_at"}),
    ({"closes": NOW + 24 * HOUR + timedelta(seconds=1)}, {"registration_closes_at"}),
    ({"kind": "public_dialog", "scheme_code": "DKV-JUNIOR"}, {"scheme_code"}),
    ({"starts": NOW - HOUR, "ends": NOW - 2 * HOUR, "closes": NOW, "scheme_code": "X-1"},
     {"starts_at", "ends_at", "registration_closes_at", "scheme_code"}),
])
def test_every_problem_of_a_plan_is_named(plan, fields):
    assert plan_problems(**plan) == fields


def test_registration_is_open_only_while_published_and_before_closing():
    domain.check_registration_open("published", NOW + timedelta(seconds=1), NOW)
    for status, closes in (("draft", NOW + HOUR), ("cancelled", NOW + HOUR),
                           ("published", NOW), ("published", NOW - HOUR)):
        with pytest.raises(Conflict):
            domain.check_registration_open(status, closes, NOW)


def test_a_cancelled_events_registrations_are_frozen():
    domain.check_registrations_may_change("published")
    with pytest.raises(Conflict):
        domain.check_registrations_may_change("cancelled")


# -- eligibility -------------------------------------------------------------------------

@pytest.mark.parametrize("members_only, subsectors, status, subsector, allowed", [
    (True, [], "active", "kuliner", True),
    (True, [], "pending", "kuliner", False),
    (True, [], "suspended", "kuliner", False),
    (True, [], "lapsed", "kuliner", False),
    (False, [], "pending", "kuliner", True),     # a public event takes any registered member
    (False, [], "suspended", "kuliner", True),
    (True, ["musik", "kuliner"], "active", "kuliner", True),
    (True, ["musik"], "active", "kuliner", False),
    (False, ["musik"], "pending", "kuliner", False),
    (False, ["musik"], "pending", "musik", True),
])
def test_who_may_register(members_only, subsectors, status, subsector, allowed):
    reason = domain.refusal_reason(members_only, subsectors, status, subsector)
    assert (reason is None) == allowed


def test_a_refusal_says_why():
    assert "pending" in domain.refusal_reason(True, [], "pending", "kuliner")
    assert "musik" in domain.refusal_reason(False, ["musik"], "active", "kuliner")


# -- seats and the waitlist -------------------------------------------------------------

def test_seats_go_first_then_the_end_of_the_waitlist():
    assert domain.allocate_place(2, 0, 0) == domain.Allocation("confirmed", None, 1, 0)
    assert domain.allocate_place(2, 1, 0) == domain.Allocation("confirmed", None, 2, 0)
    assert domain.allocate_place(2, 2, 0) == domain.Allocation("waitlisted", 1, 2, 1)
    assert domain.allocate_place(2, 2, 7) == domain.Allocation("waitlisted", 8, 2, 8)


def test_a_released_seat_goes_to_the_first_waiting_and_the_rest_move_up():
    release = domain.release_place("confirmed", None, 2, 3)
    assert release == domain.Release(1, 2, 2, {2: 1, 3: 2})


def test_a_released_seat_with_nobody_waiting_is_free_again():
    assert domain.release_place("confirmed", None, 2, 0) == domain.Release(None, 1, 0, {})


def test_leaving_the_waitlist_moves_up_only_those_behind():
    assert domain.release_place("waitlisted", 2, 5, 4) == domain.Release(None, 5, 3, {3: 2, 4: 3})
    assert domain.release_place("waitlisted", 4, 5, 4) == domain.Release(None, 5, 3, {})


@pytest.mark.parametrize("status", ["cancelled", "attended"])
def test_only_confirmed_or_waitlisted_registrations_can_be_cancelled(status):
    with pytest.raises(Conflict):
        domain.release_place(status, None, 1, 0)


class EventModel:
    """An event's registrations in memory, changed only through the domain rules."""

    def __init__(self, capacity):
        self.capacity, self.confirmed, self.waiting = capacity, 0, 0
        self.places = {}  # who -> (status, position)

    def register(self, who):
        place = domain.allocate_place(self.capacity, self.confirmed, self.waiting)
        self.places[who] = (place.status, place.position)
        self.confirmed, self.waiting = place.confirmed_count, place.waitlist_count

    def cancel(self, who):
        status, position = self.places[who]
        release = domain.release_place(status, position, self.confirmed, self.waiting)
        del self.places[who]
        for other, (other_status, other_position) in list(self.places.items()):
            if other_status != "waitlisted":
                continue
            if other_position == release.promoted_position:
                self.places[other] = ("confirmed", None)
            elif other_position in release.moves:
                self.places[other] = ("waitlisted", release.moves[other_position])
        self.confirmed, self.waiting = release.confirmed_count, release.waitlist_count

    def check_in(self, who):
        status, position = self.places[who]
        self.places[who] = (domain.check_in_status(status), position)

    def holding(self, status):
        return [place for place in self.places.values() if place[0] == status]


@pytest.mark.parametrize("seed", range(20))
def test_any_mix_of_registrations_cancellations_and_check_ins_keeps_the_places_exact(seed):
    chance = random.Random(seed)
    event, people = EventModel(capacity=chance.randint(1, 5)), iter(range(10_000))
    attended = set()
    for _ in range(300):
        before = dict(event.places), event.confirmed, event.waiting
        roll = chance.random()
        if event.places and roll < 0.3:
            who = chance.choice(list(event.places))
            if event.places[who][0] == "attended":  # a checked-in seat is kept
                with pytest.raises(Conflict):
                    event.cancel(who)
                assert (dict(event.places), event.confirmed, event.waiting) == before
            else:
                event.cancel(who)
        elif event.places and roll < 0.55:
            who = chance.choice(list(event.places))
            status = event.places[who][0]
            if status == "waitlisted":  # no seat to attend in
                with pytest.raises(Conflict):
                    event.check_in(who)
                assert (dict(event.places), event.confirmed, event.waiting) == before
            else:  # confirmed, or attended already (a second check-in changes nothing)
                event.check_in(who)
                assert event.places[who] == ("attended", None)
                assert (event.confirmed, event.waiting) == before[1:]
                attended.add(who)
        else:
            event.register(next(people))
        seated = event.holding("confirmed") + event.holding("attended")
        waiting = event.holding("waitlisted")
        # Once attended, always attended, and still holding the seat.
        assert {who for who, (status, _) in event.places.items() if status == "attended"} == attended
        assert event.confirmed == len(seated) == min(event.capacity, len(event.places))
        assert len(waiting) == event.waiting
        assert sorted(position for _, position in waiting) == list(range(1, event.waiting + 1))
        assert all(position is None for _, position in seated)
    assert attended  # the mix did include check-ins


# -- check-in ---------------------------------------------------------------------------

def test_a_confirmed_seat_checks_in_once():
    assert domain.check_in_status("confirmed") == "attended"
    assert domain.check_in_status("attended") == "attended"  # nothing changes


@pytest.mark.parametrize("status", ["waitlisted", "cancelled"])
def test_only_a_confirmed_seat_checks_in(status):
    with pytest.raises(Conflict):
        domain.check_in_status(status)
