"""What the events RPC methods accept. Every input passes through one of these."""
from marshmallow import fields, validate

from services.events import domain
from shared.schemas import (
    BoundedList, PageSchema, ReasonSchema, RuleChecked, SchemeCode, StrictBool, StrictInt,
    StrictSchema, Text,
)
from shared.subsectors import SUBSECTORS
from shared.timeutil import parse_input_time

MAX_CAPACITY = 100_000


def _parse_time(text):
    return parse_input_time(text, "time")


class Moment(RuleChecked):
    """An ISO 8601 time with its UTC offset (a naive one is refused: WITA or UTC?),
    loaded as an aware UTC datetime."""

    def __init__(self, **kwargs):
        super().__init__(_parse_time, min_length=1, max_length=40, **kwargs)


class EventTime(Moment):
    """A time the event keeps: to the second, as the contract shows such times."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).replace(microsecond=0)


class Subsector(fields.String):
    def __init__(self, **kwargs):
        super().__init__(validate=validate.OneOf(list(SUBSECTORS)), **kwargs)


class CreateEventSchema(StrictSchema):
    title = Text(min_length=2, max_length=200, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(domain.KINDS))
    description = Text(max_length=5000, allow_none=True, load_default=None)
    venue = Text(min_length=2, max_length=200, required=True)
    city = Text(min_length=2, max_length=80, required=True)
    starts_at = EventTime(required=True)
    ends_at = EventTime(required=True)
    capacity = StrictInt(1, MAX_CAPACITY, required=True)
    registration_closes_at = EventTime(allow_none=True, load_default=None)  # None: starts_at
    members_only = StrictBool(load_default=True)
    subsectors = BoundedList(Subsector(), max_length=len(SUBSECTORS), load_default=list)
    scheme_code = SchemeCode(allow_none=True, load_default=None)


class EventFilters(PageSchema):
    kind = fields.String(validate=validate.OneOf(domain.KINDS))
    city = Text(min_length=1, max_length=80)
    subsector = Subsector()
    status = fields.String(validate=validate.OneOf(domain.EVENT_STATUSES))
    starts_after = Moment()
    starts_before = Moment()


class RegistrationFilters(PageSchema):
    status = fields.String(validate=validate.OneOf(domain.REGISTRATION_STATUSES))


create_event_schema = CreateEventSchema()
reason_schema = ReasonSchema()
event_filters_schema = EventFilters()
registration_filters_schema = RegistrationFilters()
