"""Assessors (asesor) and the schemes each is qualified to assess."""
import uuid

from sqlalchemy import select

from services.certification.models import Assessor, AssessorScheme, Scheme
from services.certification.operations.member_view import known_member
from services.certification.schemas import assessor_filters_schema, register_assessor_schema
from shared.db import flush_or_conflict, get_or_not_found
from shared.errors import Conflict, ValidationError
from shared.pagination import paginate
from shared.schemas import load, parse_uuid
from shared.timeutil import utcnow_precise


def register_assessor(session, members, data):
    fields = load(register_assessor_schema, data)
    scheme_codes = sorted(set(fields.pop("scheme_codes")))
    unknown = [code for code in scheme_codes if session.get(Scheme, code) is None]
    if unknown:
        raise ValidationError.field("scheme_codes", f"Unknown schemes: {', '.join(unknown)}.")
    if fields["member_id"] is not None:
        # Impartiality rests on this link: it must name a real member.
        known_member(session, members, fields["member_id"])
    taken = select(Assessor.id).where(
        Assessor.registration_number == fields["registration_number"])
    if session.scalars(taken).first() is not None:
        raise Conflict("an assessor with this registration number exists")
    assessor = Assessor(id=str(uuid.uuid4()), created_at=utcnow_precise(), **fields,
                        schemes=[AssessorScheme(scheme_code=code) for code in scheme_codes])
    session.add(assessor)
    flush_or_conflict(session, "an assessor with this registration number exists")
    return assessor.to_record()


def get_assessor(session, assessor_id):
    return get_or_not_found(session, Assessor, parse_uuid(assessor_id, "assessor_id"),
                            f"no assessor {assessor_id}").to_record()


def list_assessors(session, filters):
    filters = load(assessor_filters_schema, filters, field_name="filters")
    query = select(Assessor)
    if "scheme_code" in filters:
        query = query.where(Assessor.schemes.any(AssessorScheme.scheme_code == filters["scheme_code"]))
    return paginate(session, query, [(Assessor.created_at, "datetime"), (Assessor.id, "uuid")],
                    filters["limit"], filters["cursor"])
