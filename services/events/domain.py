"""Event and registration rules, in plain Python: no database, no broker.

An event moves draft -> published, and draft or published -> cancelled (any other
move is a ``Conflict``). Members register while it is published and registration
is open. Seats go first come, first served; when they are gone, registrations
join a waitlist numbered 1..n. A cancelled seat goes to the first on the
waitlist, and the positions behind any gap move up, so the waitlist stays 1..n.

    confirmed --check_in--> attended        (still holds its seat)
    confirmed/waitlisted --cancel--> cancelled
    waitlisted --(a seat is released)--> confirmed   ("promoted")
"""
from dataclasses import dataclass, field

from shared.errors import Conflict, ValidationError

KINDS = ("training", "public_dialog", "workshop", "exhibition")
# CANCELLED is both an event's status and a registration's.
DRAFT, PUBLISHED, CANCELLED = "draft", "published", "cancelled"
CONFIRMED, WAITLISTED, ATTENDED = "confirmed", "waitlisted", "attended"
EVENT_STATUSES = (DRAFT, PUBLISHED, CANCELLED)
REGISTRATION_STATUSES = (CONFIRMED, WAITLISTED, CANCELLED, ATTENDED)

EVENT_TRANSITIONS = {
    "publish": ({DRAFT}, PUBLISHED),
    "cancel": ({DRAFT, PUBLISHED}, CANCELLED),
}


def next_event_status(action, status):
    """The event's status after ``action``, or ``Conflict`` from the wrong status."""
    allowed_from, target = EVENT_TRANSITIONS[action]
    if status not in allowed_from:
        raise Conflict(f"cannot {action} an event that is {status}")
    return target


def check_event_plan(kind, starts_at, ends_at, registration_closes_at, scheme_code, now):
    """A new event's times and purpose; every problem is reported under its field."""
    problems = {}
    if starts_at <= now:
        problems["starts_at"] = ["Must be in the future."]
    if ends_at <= starts_at:
        problems["ends_at"] = ["Must be after starts_at."]
    if registration_closes_at > starts_at:
        problems["registration_closes_at"] = ["Must not be after starts_at."]
    if scheme_code is not None and kind != "training":
        problems["scheme_code"] = ["Only a training prepares for a certification scheme."]
    if problems:
        raise ValidationError(problems)


def check_registration_open(event_status, registration_closes_at, now):
    if event_status != PUBLISHED:
        raise Conflict(f"the event is {event_status}, not open for registration")
    if now >= registration_closes_at:
        raise Conflict("registration for this event has closed")


def check_registrations_may_change(event_status):
    """A cancelled event's registrations stay as they were when it was called off."""
    if event_status == CANCELLED:
        raise Conflict("the event is cancelled")


def refusal_reason(members_only, event_subsectors, member_status, member_subsector):
    """Why this member may not register for the event, or None if they may.

    A members-only event needs an ``active`` member; any other event takes any
    registered member, whatever their status (even ``pending``). An event that
    names subsectors takes only members of those; one that names none takes all.
    """
    if members_only and member_status != "active":
        return f"this event is for active members; the member is {member_status}"
    if event_subsectors and member_subsector not in event_subsectors:
        return f"this event is for {', '.join(event_subsectors)}, not {member_subsector}"
    return None


@dataclass(frozen=True)
class Allocation:
    """A new registration's place, and the event's counts with it."""

    status: str
    position: int | None
    confirmed_count: int
    waitlist_count: int


def allocate_place(capacity, confirmed_count, waitlist_count):
    """A seat while one is free, else the end of the waitlist.

    ``confirmed_count`` counts every seat held: confirmed and attended alike.
    """
    if confirmed_count < capacity:
        return Allocation(CONFIRMED, None, confirmed_count + 1, waitlist_count)
    return Allocation(WAITLISTED, waitlist_count + 1, confirmed_count, waitlist_count + 1)


@dataclass(frozen=True)
class Release:
    """What cancelling one registration does to the event's places.

    ``promoted_position``: the waitlist place that becomes a seat (or None);
    ``moves``: old -> new position of each waitlisted registration that moves up.
    """

    promoted_position: int | None
    confirmed_count: int
    waitlist_count: int
    moves: dict = field(default_factory=dict)


def release_place(status, position, confirmed_count, waitlist_count):
    """Cancel a confirmed or waitlisted registration; anything else is a ``Conflict``.

    Relies on the waitlist being numbered 1..``waitlist_count``, which this keeps.
    """
    if status == CONFIRMED:
        if waitlist_count == 0:
            return Release(None, confirmed_count - 1, 0)
        return Release(1, confirmed_count, waitlist_count - 1, _close_gap(1, waitlist_count))
    if status == WAITLISTED:
        return Release(None, confirmed_count, waitlist_count - 1,
                       _close_gap(position, waitlist_count))
    raise Conflict(f"cannot cancel a registration that is {status}")


def _close_gap(vacated, waitlist_count):
    """Everyone behind the vacated position moves up one place."""
    return {old: old - 1 for old in range(vacated + 1, waitlist_count + 1)}


def check_in_status(status):
    """A confirmed seat becomes attended; an attended one stays so (checking in
    twice changes nothing); a waitlisted or cancelled registration is a ``Conflict``."""
    if status in (CONFIRMED, ATTENDED):
        return ATTENDED
    raise Conflict(f"only a confirmed registration can check in; this one is {status}")
