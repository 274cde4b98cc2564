"""What the certification messages carry in ``data``, as published.

Application messages carry the application record plus the scheme's title and the
session's venue and start; certificate messages carry the certificate record without
its signed ``credential`` (fetch that over HTTP), plus its public ``verify_url``.
``MESSAGES`` maps each event type to its schema; a schema's docstring is the
message's one-line description. docs/asyncapi.yaml is generated from these.
"""
from marshmallow import fields, validate

from services.certification import domain
from shared.schemas import SCHEME_CODE, StrictBool, StrictInt, StrictSchema, UUIDString

# CRT-<year>-XXXX-XXXX-XXXX in Crockford's base32 (no I, L, O, U).
CERTIFICATE_NUMBER = r"^CRT-[0-9]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$"


def _status(*statuses):
    return fields.String(required=True, validate=validate.OneOf(statuses))


def _scheme_code():
    return fields.String(required=True, validate=validate.Regexp(f"^{SCHEME_CODE.pattern}$"))


class SelfAssessmentClaim(StrictSchema):
    unit_code = fields.String(required=True)
    competent_claim = StrictBool(required=True)


class UnitResult(StrictSchema):
    unit_code = fields.String(required=True)
    competent = StrictBool(required=True)


class AssessmentResult(StrictSchema):
    assessor_id = UUIDString(required=True)
    units = fields.List(fields.Nested(UnitResult), required=True)
    notes = fields.String(required=True, allow_none=True)


class ApplicationMessage(StrictSchema):
    id = UUIDString(required=True)
    member_id = UUIDString(required=True)
    scheme_code = _scheme_code()
    session_id = UUIDString(required=True)
    status = _status(*domain.APPLICATION_STATUSES)
    self_assessment = fields.List(
        fields.Nested(SelfAssessmentClaim), required=True, allow_none=True,
        metadata={"description": "APL-02, when the applicant gave one."})
    result = fields.Nested(AssessmentResult, required=True, allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    decided_at = fields.AwareDateTime(required=True, allow_none=True)
    scheme_title = fields.String(required=True)
    venue = fields.String(required=True, metadata={"description": "The TUK (assessment venue)."})
    starts_at = fields.AwareDateTime(required=True,
                                     metadata={"description": "When the session starts."})


class ApplicationSubmitted(ApplicationMessage):
    """A member applied for a scheme's assessment session (APL-01)."""

    status = _status("submitted")


class AssessmentCompleted(ApplicationMessage):
    """An assessor recorded the result: competent (Kompeten) or not_yet_competent."""

    status = _status(*domain.OUTCOMES)
    result = fields.Nested(AssessmentResult, required=True)
    decided_at = fields.AwareDateTime(required=True)
    outcome = _status(*domain.OUTCOMES)


class CertificateMessage(StrictSchema):
    number = fields.String(required=True, validate=validate.Regexp(CERTIFICATE_NUMBER))
    member_id = UUIDString(required=True)
    holder_name = fields.String(required=True)
    scheme_code = _scheme_code()
    scheme_title = fields.String(required=True)
    status = _status(*domain.CERTIFICATE_STATUSES)
    issued_at = fields.AwareDateTime(required=True)
    valid_until = fields.AwareDateTime(required=True)
    verify_url = fields.Url(required=True, require_tld=False, metadata={
        "description": "The public verify page: PUBLIC_BASE_URL/certificates/<number>."})


class CertificateIssued(CertificateMessage):
    """A certificate was issued after a competent assessment."""

    status = _status("active")


class CertificateSuspended(CertificateMessage):
    """A certificate was suspended, with the reason."""

    status = _status("suspended")
    reason = fields.String(required=True)


class CertificateReinstated(CertificateMessage):
    """A suspended certificate is active again."""

    status = _status("active")


class CertificateRevoked(CertificateMessage):
    """A certificate was revoked for good, with the reason."""

    status = _status("revoked")
    reason = fields.String(required=True)


class CertificateExpired(CertificateMessage):
    """A certificate passed its ``valid_until``."""

    status = _status("expired")


class CertificateExpiring(CertificateMessage):
    """A certificate expires soon: sent once 90 and once 30 days before."""

    status = _status("active")
    days_left = StrictInt(required=True, validate=validate.Range(min=1),
                          metadata={"description": "Whole days left, rounded up."})
    reminder = StrictInt(required=True, validate=validate.OneOf(domain.REMINDER_DAYS),
                         metadata={"description": "Which reminder this is (90 or 30 days)."})


MESSAGES = {
    "application_submitted": ApplicationSubmitted,
    "assessment_completed": AssessmentCompleted,
    "certificate_issued": CertificateIssued,
    "certificate_suspended": CertificateSuspended,
    "certificate_reinstated": CertificateReinstated,
    "certificate_revoked": CertificateRevoked,
    "certificate_expired": CertificateExpired,
    "certificate_expiring": CertificateExpiring,
}
