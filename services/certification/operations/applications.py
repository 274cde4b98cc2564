"""Applications (APL-01) for an assessment session, and the assessment's result."""
import uuid

from sqlalchemy import select

from services.certification import domain
from services.certification.models import (
    Application, AssessmentSession, Assessor, Certificate, MemberView, Scheme,
)
from services.certification.operations.certificates import certificate_message, issue_certificate
from services.certification.operations.member_view import has_attended_training, known_member
from services.certification.operations.schemes import known_scheme
from services.certification.schemas import (
    application_filters_schema, apply_schema, record_result_schema,
)
from shared.db import flush_or_conflict, get_or_not_found
from shared.pagination import paginate, where_equal
from shared.schemas import load, parse_uuid
from shared.timeutil import iso, utcnow, utcnow_precise


def _application_message(application, scheme, assessment, **extra):
    return {**application.to_record(), "scheme_title": scheme.title,
            "venue": assessment.venue, "starts_at": iso(assessment.starts_at), **extra}


def _has_open_application(session, member_id, scheme_code):
    return session.scalars(select(Application.id).where(
        Application.member_id == member_id, Application.scheme_code == scheme_code,
        Application.status == domain.SUBMITTED)).first() is not None


def _certificates_for_scheme(session, member_id, scheme_code):
    return session.scalars(select(Certificate).where(
        Certificate.member_id == member_id, Certificate.scheme_code == scheme_code)).all()


def apply(session, outbox, members, data):
    fields = load(apply_schema, data)
    scheme = known_scheme(session, fields["scheme_code"])
    if fields["self_assessment"]:
        domain.check_self_assessment(scheme.unit_codes, fields["self_assessment"])
    assessment = get_or_not_found(session, AssessmentSession, fields["session_id"],
                                  f"no session {fields['session_id']}")
    domain.check_session_is_for_scheme(assessment.id, assessment.scheme_code, scheme.code)
    member = known_member(session, members, fields["member_id"])
    domain.check_member_may_apply(member.status)
    domain.check_training_attended(
        scheme.code, scheme.requires_training,
        scheme.requires_training and has_attended_training(session, member.member_id, scheme.code))
    now = utcnow()
    domain.check_no_open_application(
        _has_open_application(session, member.member_id, scheme.code))
    domain.check_no_certificate_in_force(
        _certificates_for_scheme(session, member.member_id, scheme.code), now)
    # The session row's lock makes concurrent applications take seats one at a time.
    assessment = get_or_not_found(session, AssessmentSession, assessment.id,
                                  f"no session {assessment.id}", for_update=True)
    domain.check_session_has_seat(assessment.starts_at, assessment.seats_taken,
                                  assessment.capacity, now)
    assessment.seats_taken += 1
    application = Application(
        id=str(uuid.uuid4()), member_id=member.member_id, scheme_code=scheme.code,
        session_id=assessment.id, status=domain.SUBMITTED,
        self_assessment=fields["self_assessment"], result=None,
        created_at=utcnow_precise(), decided_at=None)
    session.add(application)
    flush_or_conflict(session, "the member has an open application for this scheme")
    outbox.add("application_submitted", _application_message(application, scheme, assessment))
    return application.to_record()


def get_application(session, application_id):
    return get_or_not_found(session, Application, parse_uuid(application_id, "application_id"),
                            f"no application {application_id}").to_record()


def list_applications(session, filters):
    filters = load(application_filters_schema, filters, field_name="filters")
    query = where_equal(select(Application), Application, filters,
                        ("member_id", "session_id", "status"))
    return paginate(session, query, [(Application.created_at, "datetime"),
                                     (Application.id, "uuid")],
                    filters["limit"], filters["cursor"])


def record_result(session, outbox, signer, public_base_url, application_id, data):
    """The assessor's decision on an application; a competent one earns its certificate."""
    application_id = parse_uuid(application_id, "application_id")
    fields = load(record_result_schema, data)
    application = get_or_not_found(session, Application, application_id,
                                   f"no application {application_id}", for_update=True)
    domain.check_undecided(application.status)
    assessor = get_or_not_found(session, Assessor, fields["assessor_id"],
                                f"no assessor {fields['assessor_id']}")
    assessment = session.get(AssessmentSession, application.session_id)
    applicant = session.get(MemberView, application.member_id)
    domain.check_assessor_is_impartial(
        assigned=assessor.id in assessment.assessor_ids,
        assessor_member_id=assessor.member_id, assessor_email=assessor.email,
        applicant_member_id=application.member_id,
        applicant_email=applicant.email if applicant else None)
    scheme = session.get(Scheme, application.scheme_code)
    outcome = domain.decide(scheme.unit_codes, fields["units"])
    application.status = outcome
    application.result = {"assessor_id": assessor.id, "units": fields["units"],
                          "notes": fields["notes"]}
    application.decided_at = utcnow()
    outbox.add("assessment_completed",
               _application_message(application, scheme, assessment, outcome=outcome))
    certificate = None
    if outcome == domain.COMPETENT:
        certificate = issue_certificate(session, signer, application, scheme,
                                        applicant.full_name if applicant else "",
                                        public_base_url)
        outbox.add("certificate_issued", certificate_message(certificate, public_base_url))
    session.flush()
    return {"application": application.to_record(),
            "certificate": certificate.to_record() if certificate else None}
