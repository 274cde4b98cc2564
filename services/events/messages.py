"""What the events messages carry in ``data``, as published.

Event messages carry the event record; registration messages carry the
registration record plus what a subscriber needs to tell the member about it
(the event's title, kind, scheme, start, venue and city).
``MESSAGES`` maps each event type to its schema; a schema's docstring is the
message's one-line description. docs/asyncapi.yaml is generated from these.
"""
from marshmallow import fields, validate

from services.events import domain
from shared.schemas import SCHEME_CODE, StrictBool, StrictInt, StrictSchema, UUIDString
from shared.subsectors import SUBSECTORS


def _status(*statuses):
    return fields.String(required=True, validate=validate.OneOf(statuses))


def _kind():
    return fields.String(required=True, validate=validate.OneOf(domain.KINDS))


def _scheme_code():
    return fields.String(
        required=True, allow_none=True, validate=validate.Regexp(f"^{SCHEME_CODE.pattern}$"),
        metadata={"description": "The certification scheme a training prepares for."})


def _count(**kwargs):
    return StrictInt(required=True, validate=validate.Range(min=0), **kwargs)


class EventRecord(StrictSchema):
    id = UUIDString(required=True)
    title = fields.String(required=True)
    kind = _kind()
    description = fields.String(required=True, allow_none=True)
    venue = fields.String(required=True)
    city = fields.String(required=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    capacity = StrictInt(required=True, validate=validate.Range(min=1))
    registration_closes_at = fields.AwareDateTime(required=True)
    members_only = StrictBool(required=True)
    subsectors = fields.List(
        fields.String(validate=validate.OneOf(list(SUBSECTORS))), required=True,
        metadata={"description": "The subsectors the event is for; empty: all."})
    scheme_code = _scheme_code()
    status = _status(*domain.EVENT_STATUSES)
    confirmed_count = _count(metadata={"description": "Seats held (confirmed or attended)."})
    waitlist_count = _count()
    created_at = fields.AwareDateTime(required=True)


class EventPublished(EventRecord):
    """An event was published: registration is open."""

    status = _status("published")


class EventCancelled(EventRecord):
    """An event was called off; ``member_ids`` are everyone registered."""

    status = _status("cancelled")
    reason = fields.String(required=True)
    member_ids = fields.List(UUIDString(), required=True, metadata={
        "description": "The members of every registration not cancelled, oldest first."})


class RegistrationMessage(StrictSchema):
    id = UUIDString(required=True)
    event_id = UUIDString(required=True)
    member_id = UUIDString(required=True)
    status = _status(*domain.REGISTRATION_STATUSES)
    position = StrictInt(required=True, allow_none=True, validate=validate.Range(min=1),
                         metadata={"description": "Place on the waitlist; null otherwise."})
    registered_at = fields.AwareDateTime(required=True)
    checked_in_at = fields.AwareDateTime(required=True, allow_none=True)
    event_title = fields.String(required=True)
    kind = _kind()
    scheme_code = _scheme_code()
    starts_at = fields.AwareDateTime(required=True)
    venue = fields.String(required=True)
    city = fields.String(required=True)


class RegistrationConfirmed(RegistrationMessage):
    """A member registered and has a seat."""

    status = _status("confirmed")


class RegistrationWaitlisted(RegistrationMessage):
    """A member registered for a full event and is on the waitlist at ``position``."""

    status = _status("waitlisted")
    position = StrictInt(required=True, validate=validate.Range(min=1))


class RegistrationPromoted(RegistrationMessage):
    """A seat was released and the first on the waitlist got it."""

    status = _status("confirmed")


class RegistrationCancelled(RegistrationMessage):
    """A member gave up their seat or waitlist place."""

    status = _status("cancelled")


class AttendanceRecorded(RegistrationMessage):
    """A member with a seat checked in (a training counts towards its scheme)."""

    status = _status("attended")
    checked_in_at = fields.AwareDateTime(required=True)


MESSAGES = {
    "event_published": EventPublished,
    "event_cancelled": EventCancelled,
    "registration_confirmed": RegistrationConfirmed,
    "registration_waitlisted": RegistrationWaitlisted,
    "registration_promoted": RegistrationPromoted,
    "registration_cancelled": RegistrationCancelled,
    "attendance_recorded": AttendanceRecorded,
}
