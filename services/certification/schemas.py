"""What the certification RPC methods accept. Every input passes through one of these."""
import marshmallow as ma
from marshmallow import fields, validate

from services.certification import domain
from shared.schemas import (
    BoundedList, Email, PageSchema, ReasonSchema, SchemeCode, StrictBool, StrictInt,
    StrictSchema, Text, UUIDString,
)
from shared.subsectors import SUBSECTORS


class UnitSchema(StrictSchema):
    code = Text(min_length=1, max_length=40, required=True)
    title = Text(min_length=2, max_length=300, required=True)


class CreateSchemeSchema(StrictSchema):
    code = SchemeCode(required=True)
    title = Text(min_length=2, max_length=200, required=True)
    subsector = fields.String(required=True, validate=validate.OneOf(list(SUBSECTORS)))
    skkni_ref = Text(min_length=2, max_length=200, required=True)
    units = BoundedList(fields.Nested(UnitSchema), min_length=1, max_length=100, required=True)
    validity_months = StrictInt(1, 120, load_default=domain.DEFAULT_VALIDITY_MONTHS)
    requires_training = StrictBool(load_default=False)

    @ma.validates_schema(skip_on_field_errors=True)
    def units_are_distinct(self, data, **kwargs):
        codes = [unit["code"] for unit in data["units"]]
        if len(set(codes)) != len(codes):
            raise ma.ValidationError("Each unit code may appear once.", "units")


class RegisterAssessorSchema(StrictSchema):
    full_name = Text(min_length=2, max_length=120, required=True)
    email = Email(required=True)
    registration_number = Text(min_length=3, max_length=60, required=True)
    scheme_codes = BoundedList(SchemeCode(), min_length=1, max_length=50, required=True)
    member_id = UUIDString(allow_none=True, load_default=None)


class ScheduleSessionSchema(StrictSchema):
    scheme_code = SchemeCode(required=True)
    venue = Text(min_length=2, max_length=200, required=True)
    starts_at = Text(min_length=10, max_length=40, required=True)  # parsed by the operation
    capacity = StrictInt(1, 500, required=True)
    assessor_ids = BoundedList(UUIDString(), min_length=1, max_length=20, required=True)


class SelfAssessmentClaim(StrictSchema):
    unit_code = Text(min_length=1, max_length=40, required=True)
    competent_claim = StrictBool(required=True)


class ApplySchema(StrictSchema):
    member_id = UUIDString(required=True)
    scheme_code = SchemeCode(required=True)
    session_id = UUIDString(required=True)
    self_assessment = BoundedList(fields.Nested(SelfAssessmentClaim), max_length=100,
                                  allow_none=True, load_default=None)


class UnitResult(StrictSchema):
    unit_code = Text(min_length=1, max_length=40, required=True)
    competent = StrictBool(required=True)


class RecordResultSchema(StrictSchema):
    assessor_id = UUIDString(required=True)
    units = BoundedList(fields.Nested(UnitResult), min_length=1, max_length=100, required=True)
    notes = Text(max_length=2000, allow_none=True, load_default=None)


class SchemeFilters(PageSchema):
    subsector = fields.String(validate=validate.OneOf(list(SUBSECTORS)))


class ApplicationFilters(PageSchema):
    member_id = UUIDString()
    session_id = UUIDString()
    status = fields.String(validate=validate.OneOf(domain.APPLICATION_STATUSES))


class CertificateFilters(PageSchema):
    member_id = UUIDString()
    scheme_code = SchemeCode()
    status = fields.String(validate=validate.OneOf(domain.CERTIFICATE_STATUSES))


class SessionFilters(PageSchema):
    scheme_code = SchemeCode()


class AssessorFilters(PageSchema):
    scheme_code = SchemeCode()


create_scheme_schema = CreateSchemeSchema()
register_assessor_schema = RegisterAssessorSchema()
schedule_session_schema = ScheduleSessionSchema()
apply_schema = ApplySchema()
record_result_schema = RecordResultSchema()
reason_schema = ReasonSchema()
scheme_filters_schema = SchemeFilters()
assessor_filters_schema = AssessorFilters()
session_filters_schema = SessionFilters()
application_filters_schema = ApplicationFilters()
certificate_filters_schema = CertificateFilters()
