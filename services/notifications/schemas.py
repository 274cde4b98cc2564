"""What the notifications RPC methods accept."""
from marshmallow import fields, validate

from services.notifications import domain
from shared.schemas import (
    BoundedList, PageSchema, RuleChecked, StrictBool, StrictSchema, UUIDString,
)
from shared.timeutil import parse_input_time


class InboxFilters(PageSchema):
    unread_only = StrictBool(load_default=False)


class MarkRead(StrictSchema):
    notification_ids = BoundedList(UUIDString(), max_length=500, required=True)


class PreferencesSchema(StrictSchema):
    """Loaded with ``partial=True``: only the choices given change."""

    email = StrictBool(required=True)
    sms = StrictBool(required=True)
    announcements = StrictBool(required=True)


class RetryFilters(StrictSchema):
    """Which failed deliveries ``retry_failed`` re-queues; none given: every one."""

    member_id = UUIDString()
    channel = fields.String(validate=validate.OneOf(domain.CHANNELS))
    event_type = fields.String(validate=validate.OneOf(domain.event_types()))
    # Only those made after this time: after a long outage, not months-old notices.
    created_after = RuleChecked(lambda text: parse_input_time(text, "created_after"),
                                min_length=1, max_length=40)


class DeliveryFilters(PageSchema):
    member_id = UUIDString()
    status = fields.String(validate=validate.OneOf(domain.DELIVERY_STATUSES))
    channel = fields.String(validate=validate.OneOf(domain.CHANNELS))
    event_type = fields.String(validate=validate.OneOf(domain.event_types()))


inbox_filters_schema = InboxFilters()
mark_read_schema = MarkRead()
preferences_schema = PreferencesSchema()
delivery_filters_schema = DeliveryFilters()
retry_filters_schema = RetryFilters()
