"""The members use cases: load, apply a domain rule, store, record the message.

Each takes the worker's session and outbox; the entrypoint's transaction commits
them together (see shared.entrypoints). Domain rules live in ``domain.py``.
"""
import uuid
from types import SimpleNamespace

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from services.members import domain
from services.members.models import Member, MemberNumberSequence
from services.members.schemas import (
    list_filters_schema, reason_schema, register_schema, update_profile_schema,
)
from shared.db import flush_or_conflict, get_or_not_found, is_unique_violation
from shared.errors import Conflict, NotFound, ValidationError
from shared.pagination import paginate, where_equal
from shared.schemas import load, parse_uuid
from shared.timeutil import parse_input_time, utcnow, utcnow_precise


def _record_message(outbox, event_type, member, **extra):
    outbox.add(event_type, {**member.to_record(), **extra})


def _locked_member(session, member_id):
    member_id = parse_uuid(member_id, "member_id")
    return get_or_not_found(session, Member, member_id, f"no member {member_id}",
                            for_update=True)


_MEMBER_COLUMNS = tuple(column.name for column in Member.__table__.columns)
_INSERT_MEMBER = insert(Member.__table__)


def register(session, outbox, data):
    fields = load(register_schema, data)
    now = utcnow_precise()
    member = dict.fromkeys(_MEMBER_COLUMNS)  # every column, so one cached statement
    member.update(fields, id=str(uuid.uuid4()), status=domain.PENDING, created_at=now,
                  updated_at=now)
    # A Core insert: the ORM's unit of work costs more than the insert itself. A taken
    # email is found by the unique index: no query beforehand.
    try:
        session.execute(_INSERT_MEMBER, member)
    except IntegrityError as error:
        if not is_unique_violation(error):
            raise
        raise Conflict("a member with this email is already registered") from None
    record = Member.to_record(SimpleNamespace(**member))
    outbox.add("member_registered", record)
    return record


def get(session, member_id):
    # The hottest query: a Core row, cheaper to load than an ORM instance.
    # Member.to_record only reads attributes, which the row has too.
    member_id = parse_uuid(member_id, "member_id")
    members = Member.__table__
    row = session.execute(select(members).where(members.c.id == member_id)).first()
    if row is None:
        raise NotFound(f"no member {member_id}")
    return Member.to_record(row)


def get_by_number(session, member_number):
    if not isinstance(member_number, str) or not domain.MEMBER_NUMBER_PATTERN.fullmatch(member_number):
        raise ValidationError.field("member_number", "Not a member number (EKRAF-YYYY-NNNNNN).")
    member = session.scalars(select(Member).where(Member.member_number == member_number)).first()
    if member is None:
        raise NotFound(f"no member {member_number}")
    return member.to_record()


def list_members(session, filters):
    filters = load(list_filters_schema, filters, field_name="filters")
    query = where_equal(select(Member), Member, filters, ("subsector", "status"))
    if "city" in filters:
        query = query.where(func.lower(Member.city) == filters["city"].lower())
    if "q" in filters:
        pattern = "%" + _escape_like(filters["q"].lower()) + "%"
        query = query.where(or_(func.lower(Member.full_name).like(pattern, escape="\\"),
                                func.lower(Member.business_name).like(pattern, escape="\\")))
    return paginate(session, query, [(Member.created_at, "datetime"), (Member.id, "uuid")],
                    filters["limit"], filters["cursor"])


def _escape_like(text):
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def update_profile(session, outbox, member_id, changes):
    fields = load(update_profile_schema, changes, field_name="changes", partial=True)
    member = _locked_member(session, member_id)
    # An email another member has is found by the unique index at the flush below.
    changed = {name: value for name, value in fields.items() if getattr(member, name) != value}
    if not changed:
        return member.to_record()
    for name, value in changed.items():
        setattr(member, name, value)
    member.updated_at = utcnow_precise()
    flush_or_conflict(session, "a member with this email is already registered")
    _record_message(outbox, "member_updated", member, changed_fields=sorted(changed))
    return member.to_record()


def _next_member_number(session, year):
    """The next number of ``year``; the counter row's lock makes concurrent activations queue."""
    while True:
        number = session.execute(
            update(MemberNumberSequence)
            .where(MemberNumberSequence.year == year)
            .values(last_number=MemberNumberSequence.last_number + 1)
            .returning(MemberNumberSequence.last_number)
        ).scalar()
        if number is not None:
            return domain.format_member_number(year, number)
        try:
            with session.begin_nested():
                session.execute(insert(MemberNumberSequence).values(year=year, last_number=0))
        except IntegrityError:
            pass  # another activation created this year's counter first; use it


def activate(session, outbox, member_id):
    member = _locked_member(session, member_id)
    member.status = domain.next_status("activate", member.status)
    now = utcnow()
    member.member_number = _next_member_number(session, now.year)
    member.active_since, member.valid_until = domain.activation_period(now)
    member.updated_at = utcnow_precise()
    _record_message(outbox, "member_activated", member)
    return member.to_record()


def _transition(session, outbox, member_id, action, event_type, **extra):
    member = _locked_member(session, member_id)
    member.status = domain.next_status(action, member.status)
    member.updated_at = utcnow_precise()
    _record_message(outbox, event_type, member, **extra)
    return member


def suspend(session, outbox, member_id, reason):
    reason = load(reason_schema, {"reason": reason})["reason"]
    return _transition(session, outbox, member_id, "suspend", "member_suspended",
                       reason=reason).to_record()


def reinstate(session, outbox, member_id):
    return _transition(session, outbox, member_id, "reinstate", "member_reinstated").to_record()


def renew(session, outbox, member_id):
    member = _locked_member(session, member_id)
    member.status = domain.next_status("renew", member.status)
    now = utcnow()
    member.valid_until = domain.renewed_until(now, member.valid_until)
    member.updated_at = utcnow_precise()
    _record_message(outbox, "member_renewed", member)
    return member.to_record()


def expire_due(session, outbox, now=None):
    """Mark active members past ``valid_until`` as lapsed; return how many."""
    now = utcnow() if now is None else parse_input_time(now, "now")
    due = session.scalars(
        select(Member)
        .where(Member.status == domain.ACTIVE, Member.valid_until < now)
        .order_by(Member.valid_until)
        .with_for_update(skip_locked=True)
    ).all()
    for member in due:
        if domain.is_due_to_lapse(member.status, member.valid_until, now):
            member.status = domain.next_status("lapse", member.status)
            member.updated_at = utcnow_precise()
            _record_message(outbox, "member_lapsed", member)
    return len(due)


def stats(session):
    def counts(column):
        return {key: count for key, count in
                session.execute(select(column, func.count()).group_by(column)).all()}

    by_status = counts(Member.status)
    return {
        "total": sum(by_status.values()),
        "by_status": {status: by_status.get(status, 0) for status in domain.STATUSES},
        "by_subsector": counts(Member.subsector),
        "by_city": counts(Member.city),
    }
