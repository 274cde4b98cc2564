"""The events use cases: load, apply a domain rule, store, record the message.

Each takes the worker's session (and outbox, members proxy as needed); the
entrypoint's transaction commits them together. Rules live in ``domain.py``.

Every change to an event's registrations first locks the event's row, so the
registrations of one event change one at a time: seats are never over-given,
waitlist positions never collide, and the event's counts stay exact.
"""
import uuid

from sqlalchemy import func, or_, select

from services.events import domain
from services.events.models import Event, EventSubsector, MemberView, Registration
from services.events.schemas import (
    create_event_schema, event_filters_schema, reason_schema, registration_filters_schema,
)
from shared.db import flush_or_conflict, get_or_not_found, upsert_if_newer
from shared.envelope import require_fields, require_time
from shared.errors import Conflict, Forbidden, NotFound
from shared.member_view import current_member
from shared.pagination import paginate, where_equal
from shared.schemas import load, parse_uuid
from shared.timeutil import iso, utcnow, utcnow_precise


def _load_event(session, event_id, for_update=False):
    return get_or_not_found(session, Event, event_id, f"no event {event_id}",
                            for_update=for_update)


def _registration_message(registration, event):
    return {**registration.to_record(), "event_title": event.title, "kind": event.kind,
            "scheme_code": event.scheme_code, "starts_at": iso(event.starts_at),
            "venue": event.venue, "city": event.city}


# -- events ------------------------------------------------------------------------

def create_event(session, data):
    fields = load(create_event_schema, data)
    if fields["registration_closes_at"] is None:
        fields["registration_closes_at"] = fields["starts_at"]
    domain.check_event_plan(fields["kind"], fields["starts_at"], fields["ends_at"],
                            fields["registration_closes_at"], fields["scheme_code"], utcnow())
    fields["subsectors"] = sorted(set(fields["subsectors"]))
    event = Event(id=str(uuid.uuid4()), status=domain.DRAFT, confirmed_count=0, waitlist_count=0,
                  created_at=utcnow_precise(), **fields)
    session.add(event)
    session.flush()
    return event.to_record()


def get_event(session, event_id):
    return _load_event(session, parse_uuid(event_id, "event_id")).to_record()


def list_events(session, filters):
    filters = load(event_filters_schema, filters, field_name="filters")
    query = where_equal(select(Event), Event, filters, ("kind", "status"))
    if "city" in filters:
        query = query.where(func.lower(Event.city) == filters["city"].lower())
    if "subsector" in filters:  # for that subsector, or for every subsector
        query = query.where(or_(
            Event.subsector_rows.any(EventSubsector.subsector == filters["subsector"]),
            ~Event.subsector_rows.any()))
    if "starts_after" in filters:
        query = query.where(Event.starts_at > filters["starts_after"])
    if "starts_before" in filters:
        query = query.where(Event.starts_at < filters["starts_before"])
    return paginate(session, query, [(Event.starts_at, "datetime"), (Event.id, "uuid")],
                    filters["limit"], filters["cursor"])


def publish_event(session, outbox, event_id):
    event = _load_event(session, parse_uuid(event_id, "event_id"), for_update=True)
    event.status = domain.next_event_status("publish", event.status)
    outbox.add("event_published", event.to_record())
    return event.to_record()


def cancel_event(session, outbox, event_id, reason):
    """Call the event off and tell everyone registered; registration closes with it.

    Registrations keep their status (what each member held when the event was
    called off); ``event_cancelled`` lists the members of every standing one.
    """
    event_id = parse_uuid(event_id, "event_id")
    reason = load(reason_schema, {"reason": reason})["reason"]
    event = _load_event(session, event_id, for_update=True)
    event.status = domain.next_event_status("cancel", event.status)
    event.cancellation_reason = reason
    outbox.add("event_cancelled", {**event.to_record(), "reason": reason,
                                   "member_ids": _registered_member_ids(session, event.id)})
    return event.to_record()


def _registered_member_ids(session, event_id):
    return list(session.scalars(
        select(Registration.member_id)
        .where(Registration.event_id == event_id, Registration.status != domain.CANCELLED)
        .order_by(Registration.registered_at, Registration.id)))


# -- what events knows of members -----------------------------------------------------

def apply_member_record(session, record):
    """Keep the member view from a members message (or RPC answer); newer wins."""
    require_fields(record, "id", "status", "subsector", "city", "updated_at")
    upsert_if_newer(session, MemberView.__table__, ["member_id"], {
        "member_id": str(record["id"]),
        "status": record["status"],
        "subsector": record["subsector"],
        "city": record["city"],
        "source_updated_at": require_time(record, "updated_at"),
    }, "source_updated_at")


def _check_member_may_register(session, members, event, member_id):
    """Refuse (``Forbidden``) a member the event does not take; ``NotFound`` if unknown.

    The view is trusted when it admits the member. When it would refuse, or has
    not heard of the member yet, the members service is asked first: its message
    may simply not have arrived (registering right after activation must work).
    If members does not answer, a member the view knows is judged by the view.
    """
    subsectors = list(event.subsectors)

    def refusal(view):
        return domain.refusal_reason(event.members_only, subsectors, view.status, view.subsector)

    view = current_member(session, members, member_id, MemberView, apply_member_record,
                          trusted=lambda view: not refusal(view))
    reason = refusal(view)
    if reason:
        raise Forbidden(reason)


# -- registrations ---------------------------------------------------------------------

def _has_standing_registration(session, event_id, member_id):
    return session.scalars(select(Registration.id).where(
        Registration.event_id == event_id, Registration.member_id == member_id,
        Registration.status != domain.CANCELLED)).first() is not None


def register(session, outbox, members, event_id, member_id):
    """A seat while one is free, else the end of the waitlist.

    The member is checked before the event's row is locked, so that a call to
    the members service never holds the lock every registration queues on; the
    event's state is checked again under the lock.
    """
    event_id = parse_uuid(event_id, "event_id")
    member_id = parse_uuid(member_id, "member_id")
    event = _load_event(session, event_id)
    domain.check_registration_open(event.status, event.registration_closes_at, utcnow())
    _check_member_may_register(session, members, event, member_id)
    event = _load_event(session, event_id, for_update=True)
    domain.check_registration_open(event.status, event.registration_closes_at, utcnow())
    if _has_standing_registration(session, event.id, member_id):
        raise Conflict("the member is already registered for this event")
    place = domain.allocate_place(event.capacity, event.confirmed_count, event.waitlist_count)
    registration = Registration(
        id=str(uuid.uuid4()), event_id=event.id, member_id=member_id, status=place.status,
        position=place.position, registered_at=utcnow_precise(), checked_in_at=None)
    event.confirmed_count, event.waitlist_count = place.confirmed_count, place.waitlist_count
    session.add(registration)
    flush_or_conflict(session, "the member is already registered for this event")
    outbox.add(f"registration_{place.status}", _registration_message(registration, event))
    return registration.to_record()


def _locked_event_and_registration(session, event_id, member_id):
    """The event (locked) and the member's registration: the standing one, else
    the latest cancelled one; ``NotFound`` if the member never registered."""
    event_id = parse_uuid(event_id, "event_id")
    member_id = parse_uuid(member_id, "member_id")
    event = _load_event(session, event_id, for_update=True)
    domain.check_registrations_may_change(event.status)
    registration = session.scalars(
        select(Registration)
        .where(Registration.event_id == event.id, Registration.member_id == member_id)
        .order_by(Registration.status == domain.CANCELLED, Registration.registered_at.desc())
    ).first()
    if registration is None:
        raise NotFound(f"member {member_id} is not registered for event {event.id}")
    return event, registration


def cancel_registration(session, outbox, event_id, member_id):
    """Give up a seat or a waitlist place. A seat goes to the first on the
    waitlist (promoted); the positions behind the gap move up, staying 1..n."""
    event, registration = _locked_event_and_registration(session, event_id, member_id)
    release = domain.release_place(registration.status, registration.position,
                                   event.confirmed_count, event.waitlist_count)
    registration.status, registration.position = domain.CANCELLED, None
    outbox.add("registration_cancelled", _registration_message(registration, event))
    _apply_release(session, outbox, event, release)
    return registration.to_record()


def _apply_release(session, outbox, event, release):
    waitlist = session.scalars(
        select(Registration)
        .where(Registration.event_id == event.id, Registration.status == domain.WAITLISTED)
        .order_by(Registration.position)).all()
    for entry in waitlist:
        if entry.position == release.promoted_position:
            entry.status, entry.position = domain.CONFIRMED, None
            outbox.add("registration_promoted", _registration_message(entry, event))
        elif entry.position in release.moves:
            entry.position = release.moves[entry.position]
    event.confirmed_count, event.waitlist_count = release.confirmed_count, release.waitlist_count


def check_in(session, outbox, event_id, member_id):
    """Record attendance of a confirmed seat, once: a second check-in returns the
    same record and sends nothing."""
    event, registration = _locked_event_and_registration(session, event_id, member_id)
    status = domain.check_in_status(registration.status)
    if status != registration.status:
        registration.status, registration.checked_in_at = status, utcnow()
        outbox.add("attendance_recorded", _registration_message(registration, event))
    return registration.to_record()


def list_registrations(session, event_id, filters):
    """An event's registrations, oldest first (``registered_at``, then ``id``).

    For the waitlist this is also position order: registrations are stamped
    while holding the event's lock, in the order they get their positions, and
    positions only ever move up together, so a later registration never passes
    an earlier one. One order for every status keeps the cursor simple.
    """
    event_id = parse_uuid(event_id, "event_id")
    filters = load(registration_filters_schema, filters, field_name="filters")
    _load_event(session, event_id)
    query = where_equal(select(Registration).where(Registration.event_id == event_id),
                        Registration, filters, ("status",))
    return paginate(session, query, [(Registration.registered_at, "datetime"),
                                     (Registration.id, "uuid")],
                    filters["limit"], filters["cursor"])
