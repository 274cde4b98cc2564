"""Assessment sessions: a scheme's assessment at a venue (TUK), by its assessors.

"Session" here is always the assessment session; the first argument of each use
case is the database session, as everywhere.
"""
import uuid

from sqlalchemy import select

from services.certification.models import AssessmentSession, Assessor
from services.certification.operations.schemes import known_scheme
from services.certification.schemas import schedule_session_schema, session_filters_schema
from shared.db import get_or_not_found
from shared.errors import ValidationError
from shared.pagination import paginate, where_equal
from shared.schemas import load, parse_uuid
from shared.timeutil import parse_input_time, utcnow, utcnow_precise


def schedule_assessment_session(session, data):
    fields = load(schedule_session_schema, data)
    starts_at = parse_input_time(fields["starts_at"], "starts_at").replace(microsecond=0)
    if starts_at <= utcnow():
        raise ValidationError.field("starts_at", "Must be in the future.")
    scheme = known_scheme(session, fields["scheme_code"])
    assessor_ids = list(dict.fromkeys(fields["assessor_ids"]))
    problems = []
    for assessor_id in assessor_ids:
        assessor = session.get(Assessor, assessor_id)
        if assessor is None:
            problems.append(f"Unknown assessor {assessor_id}.")
        elif scheme.code not in assessor.scheme_codes:
            problems.append(f"Assessor {assessor_id} is not qualified for {scheme.code}.")
    if problems:
        raise ValidationError({"assessor_ids": problems})
    assessment = AssessmentSession(
        id=str(uuid.uuid4()), scheme_code=scheme.code, venue=fields["venue"],
        starts_at=starts_at, capacity=fields["capacity"], assessor_ids=assessor_ids,
        seats_taken=0, created_at=utcnow_precise())
    session.add(assessment)
    session.flush()
    return assessment.to_record()


def get_assessment_session(session, session_id):
    return get_or_not_found(session, AssessmentSession, parse_uuid(session_id, "session_id"),
                            f"no session {session_id}").to_record()


def list_assessment_sessions(session, filters):
    filters = load(session_filters_schema, filters, field_name="filters")
    query = where_equal(select(AssessmentSession), AssessmentSession, filters,
                        ("scheme_code",))
    return paginate(session, query, [(AssessmentSession.starts_at, "datetime"),
                                     (AssessmentSession.id, "uuid")],
                    filters["limit"], filters["cursor"])
