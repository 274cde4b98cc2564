"""What the members messages carry in ``data``: the member record, as published.

``MESSAGES`` maps each event type to its schema; a schema's docstring is the
message's one-line description. docs/asyncapi.yaml is generated from these
(``python -m devtools.asyncapi``), so a change here is a change of the catalog.
"""
from marshmallow import fields, validate

from services.members import domain
from services.members.schemas import UpdateProfileSchema
from shared.schemas import Email, StrictSchema, UUIDString
from shared.subsectors import SUBSECTORS


def _status(*statuses):
    return fields.String(required=True, validate=validate.OneOf(statuses))


class MemberRecord(StrictSchema):
    id = UUIDString(required=True)
    member_number = fields.String(
        required=True, allow_none=True,
        validate=validate.Regexp(f"^{domain.MEMBER_NUMBER_PATTERN.pattern}$"),
        metadata={"description": "EKRAF-<year>-<6 digits>; null until activated."})
    full_name = fields.String(required=True)
    email = Email(required=True)
    phone = fields.String(required=True, validate=validate.Regexp(r"^\+62[1-9][0-9]{7,11}$"),
                          metadata={"description": "E.164."})
    city = fields.String(required=True)
    province = fields.String(required=True)
    subsector = fields.String(required=True, validate=validate.OneOf(list(SUBSECTORS)))
    business_name = fields.String(required=True, allow_none=True)
    nib = fields.String(required=True, allow_none=True, validate=validate.Regexp(r"^[0-9]{13}$"),
                        metadata={"description": "Nomor Induk Berusaha (13 digits)."})
    locale = fields.String(required=True, validate=validate.OneOf(domain.LOCALES))
    status = _status(*domain.STATUSES)
    active_since = fields.AwareDateTime(required=True, allow_none=True)
    valid_until = fields.AwareDateTime(required=True, allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)


class MemberRegistered(MemberRecord):
    """A new member registered; pending until activated."""

    status = _status("pending")


class MemberActivated(MemberRecord):
    """A member was activated: member number and validity assigned."""

    status = _status("active")


class MemberUpdated(MemberRecord):
    """A member changed their profile; ``changed_fields`` names what changed."""

    changed_fields = fields.List(
        fields.String(validate=validate.OneOf(sorted(UpdateProfileSchema().fields))),
        required=True, validate=validate.Length(min=1),
        metadata={"description": "Sorted names of the profile fields that changed."})


class MemberSuspended(MemberRecord):
    """A member was suspended, with the reason."""

    status = _status("suspended")
    reason = fields.String(required=True)


class MemberReinstated(MemberRecord):
    """A suspended member is active again."""

    status = _status("active")


class MemberRenewed(MemberRecord):
    """A membership was renewed: ``valid_until`` moved 12 months on."""

    status = _status("active")


class MemberLapsed(MemberRecord):
    """A membership passed its ``valid_until`` without renewal."""

    status = _status("lapsed")


MESSAGES = {
    "member_registered": MemberRegistered,
    "member_activated": MemberActivated,
    "member_updated": MemberUpdated,
    "member_suspended": MemberSuspended,
    "member_reinstated": MemberReinstated,
    "member_renewed": MemberRenewed,
    "member_lapsed": MemberLapsed,
}
