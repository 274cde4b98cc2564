"""What the members RPC methods accept. Every input passes through one of these."""
import marshmallow as ma
from marshmallow import fields, validate

from services.members import domain
from shared.errors import ValidationError as ContractValidationError
from shared.schemas import Email, Limit, StrictSchema, Text


class Phone(Text):
    def __init__(self, **kwargs):
        super().__init__(min_length=1, max_length=40, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        try:
            return domain.normalize_phone(value)
        except ContractValidationError as exc:
            raise ma.ValidationError(exc.errors["phone"]) from None


class Nib(Text):
    def __init__(self, **kwargs):
        super().__init__(min_length=1, max_length=13, allow_none=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        try:
            return domain.validate_nib(value)
        except ContractValidationError as exc:
            raise ma.ValidationError(exc.errors["nib"]) from None


def one_of(choices):
    return fields.String(validate=validate.OneOf(list(choices)))


class ProfileFields(StrictSchema):
    """The fields a member may set at registration and change later."""

    full_name = Text(min_length=2, max_length=120, required=True)
    email = Email(required=True)
    phone = Phone(required=True)
    city = Text(min_length=2, max_length=80, required=True)
    province = Text(min_length=2, max_length=80, load_default=domain.DEFAULT_PROVINCE)
    business_name = Text(min_length=1, max_length=160, allow_none=True, load_default=None)
    nib = Nib(load_default=None)
    locale = fields.String(validate=validate.OneOf(domain.LOCALES), load_default="id")


class RegisterSchema(ProfileFields):
    subsector = fields.String(required=True, validate=validate.OneOf(list(domain.SUBSECTORS)))


class UpdateProfileSchema(ProfileFields):
    """Loaded with ``partial=True``: only the fields given are changed."""

    @ma.validates_schema
    def not_empty(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Give at least one field to change.", "changes")


class ListFiltersSchema(StrictSchema):
    subsector = fields.String(validate=validate.OneOf(list(domain.SUBSECTORS)))
    city = Text(min_length=1, max_length=80)
    status = fields.String(validate=validate.OneOf(domain.STATUSES))
    q = Text(min_length=1, max_length=100)
    limit = Limit()
    cursor = fields.String(allow_none=True, load_default=None)


class ReasonSchema(StrictSchema):
    reason = Text(min_length=1, max_length=500, required=True)


register_schema = RegisterSchema()
reason_schema = ReasonSchema()
update_profile_schema = UpdateProfileSchema()
list_filters_schema = ListFiltersSchema()
