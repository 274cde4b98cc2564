"""What the members RPC methods accept. Every input passes through one of these."""
import marshmallow as ma
from marshmallow import fields, validate

from services.members import domain
from shared.schemas import Email, PageSchema, ReasonSchema, RuleChecked, StrictSchema, Text
from shared.subsectors import SUBSECTORS


class ProfileFields(StrictSchema):
    """The fields a member may set at registration and change later."""

    full_name = Text(min_length=2, max_length=120, required=True)
    email = Email(required=True)
    phone = RuleChecked(domain.normalize_phone, min_length=1, max_length=40, required=True)
    city = Text(min_length=2, max_length=80, required=True)
    province = Text(min_length=2, max_length=80, load_default=domain.DEFAULT_PROVINCE)
    business_name = Text(min_length=1, max_length=160, allow_none=True, load_default=None)
    nib = RuleChecked(domain.validate_nib, min_length=1, max_length=13, allow_none=True,
                      load_default=None)
    locale = fields.String(validate=validate.OneOf(domain.LOCALES), load_default="id")


class RegisterSchema(ProfileFields):
    subsector = fields.String(required=True, validate=validate.OneOf(list(SUBSECTORS)))


class UpdateProfileSchema(ProfileFields):
    """Loaded with ``partial=True``: only the fields given are changed."""

    @ma.validates_schema
    def not_empty(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Give at least one field to change.", "changes")


class ListFiltersSchema(PageSchema):
    subsector = fields.String(validate=validate.OneOf(list(SUBSECTORS)))
    city = Text(min_length=1, max_length=80)
    status = fields.String(validate=validate.OneOf(domain.STATUSES))
    q = Text(min_length=1, max_length=100)


register_schema = RegisterSchema()
reason_schema = ReasonSchema()
update_profile_schema = UpdateProfileSchema()
list_filters_schema = ListFiltersSchema()
