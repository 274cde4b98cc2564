"""The certification use cases: load, apply a domain rule, store, record the message.

Each takes the worker's session (and outbox, signer, members proxy as needed);
the entrypoint's transaction commits them together. Rules live in ``domain.py``.
"""
import uuid
from datetime import timedelta

from sqlalchemy import select

from services.certification import domain, schemas
from services.certification.models import (
    Application, AssessmentSession, Assessor, AssessorScheme, Certificate, MemberView, Scheme,
    SigningKey, TrainingAttendance,
)
from shared.db import flush_or_conflict, upsert_if_newer
from shared.envelope import require_fields, require_time
from shared.errors import Conflict, Forbidden, NotFound, ValidationError
from shared.member_view import current_member
from shared.pagination import paginate
from shared.schemas import SCHEME_CODE, ReasonSchema, load, parse_uuid
from shared.timeutil import iso, parse_input_time, utcnow, utcnow_precise

create_scheme_schema = schemas.CreateSchemeSchema()
register_assessor_schema = schemas.RegisterAssessorSchema()
schedule_session_schema = schemas.ScheduleSessionSchema()
apply_schema = schemas.ApplySchema()
record_result_schema = schemas.RecordResultSchema()
reason_schema = ReasonSchema()
scheme_filters_schema = schemas.SchemeFilters()
application_filters_schema = schemas.ApplicationFilters()
certificate_filters_schema = schemas.CertificateFilters()
session_filters_schema = schemas.SessionFilters()
assessor_filters_schema = schemas.AssessorFilters()


def _scheme_code_arg(code):
    if not isinstance(code, str) or not SCHEME_CODE.fullmatch(code):
        raise ValidationError.field("code", "Not a scheme code (e.g. DKV-JUNIOR).")
    return code


def _certificate_number_arg(number):
    if not domain.is_certificate_number(number):
        raise ValidationError.field("number", "Not a certificate number (CRT-YYYY-XXXX-XXXX-XXXX).")
    return number


# -- schemes ---------------------------------------------------------------------

def create_scheme(session, data):
    fields = load(create_scheme_schema, data)
    if session.get(Scheme, fields["code"]) is not None:
        raise Conflict(f"scheme {fields['code']} exists")
    scheme = Scheme(created_at=utcnow_precise(), **fields)
    session.add(scheme)
    flush_or_conflict(session, f"scheme {fields['code']} exists")
    return scheme.to_record()


def get_scheme(session, code):
    scheme = session.get(Scheme, _scheme_code_arg(code))
    if scheme is None:
        raise NotFound(f"no scheme {code}")
    return scheme.to_record()


def list_schemes(session, filters):
    filters = load(scheme_filters_schema, filters, field_name="filters")
    query = select(Scheme)
    if "subsector" in filters:
        query = query.where(Scheme.subsector == filters["subsector"])
    return paginate(session, query, [(Scheme.code, "str")], filters["limit"], filters["cursor"])


def _known_scheme(session, code, field="scheme_code"):
    scheme = session.get(Scheme, code)
    if scheme is None:
        raise ValidationError.field(field, f"Unknown scheme {code}.")
    return scheme


# -- assessors and sessions --------------------------------------------------------

def register_assessor(session, members, data):
    fields = load(register_assessor_schema, data)
    scheme_codes = sorted(set(fields.pop("scheme_codes")))
    unknown = [code for code in scheme_codes if session.get(Scheme, code) is None]
    if unknown:
        raise ValidationError.field("scheme_codes", f"Unknown schemes: {', '.join(unknown)}.")
    if fields["member_id"] is not None:
        # Impartiality rests on this link: it must name a real member.
        _current_member(session, members, fields["member_id"])
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
    assessor = session.get(Assessor, parse_uuid(assessor_id, "assessor_id"))
    if assessor is None:
        raise NotFound(f"no assessor {assessor_id}")
    return assessor.to_record()


def list_assessors(session, filters):
    filters = load(assessor_filters_schema, filters, field_name="filters")
    query = select(Assessor)
    if "scheme_code" in filters:
        query = query.where(Assessor.schemes.any(AssessorScheme.scheme_code == filters["scheme_code"]))
    return paginate(session, query, [(Assessor.created_at, "datetime"), (Assessor.id, "uuid")],
                    filters["limit"], filters["cursor"])


def schedule_session(session, data):
    fields = load(schedule_session_schema, data)
    starts_at = parse_input_time(fields["starts_at"], "starts_at").replace(microsecond=0)
    if starts_at <= utcnow():
        raise ValidationError.field("starts_at", "Must be in the future.")
    scheme = _known_scheme(session, fields["scheme_code"])
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


def get_session(session, session_id):
    assessment = session.get(AssessmentSession, parse_uuid(session_id, "session_id"))
    if assessment is None:
        raise NotFound(f"no session {session_id}")
    return assessment.to_record()


def list_sessions(session, filters):
    filters = load(session_filters_schema, filters, field_name="filters")
    query = select(AssessmentSession)
    if "scheme_code" in filters:
        query = query.where(AssessmentSession.scheme_code == filters["scheme_code"])
    return paginate(session, query, [(AssessmentSession.starts_at, "datetime"),
                                     (AssessmentSession.id, "uuid")],
                    filters["limit"], filters["cursor"])


# -- what certification knows of members and trainings ------------------------------

def apply_member_record(session, record):
    """Keep the member view from a members message (or RPC answer); newer wins."""
    require_fields(record, "id", "full_name", "email", "phone", "status", "updated_at")
    upsert_if_newer(session, MemberView.__table__, ["member_id"], {
        "member_id": str(record["id"]),
        "status": record["status"],
        "full_name": record["full_name"],
        "email": record["email"],
        "phone": record["phone"],
        "locale": record.get("locale") or "id",
        "source_updated_at": require_time(record, "updated_at"),
    }, "source_updated_at")


def record_training_attendance(session, data):
    """A training that prepares for a scheme was attended (events' attendance_recorded).

    Every attendance_recorded names its member, event and kind: one that does not is
    parked at once (retrying cannot mend it), whatever its kind."""
    require_fields(data, "member_id", "event_id", "kind")
    if data.get("kind") != "training" or not data.get("scheme_code"):
        return  # only a training that prepares for a scheme counts
    key = (str(data["member_id"]), data["scheme_code"], str(data["event_id"]))
    if session.get(TrainingAttendance, key) is None:
        session.add(TrainingAttendance(
            member_id=key[0], scheme_code=key[1], event_id=key[2],
            attended_at=require_time(data, "checked_in_at")
            if data.get("checked_in_at") else utcnow()))


def _current_member(session, members, member_id):
    """The member as certification knows them; asks members when unsure.

    The view is trusted to say "active"; anything else (unknown, or a status that
    would refuse) is checked with the members service, since its message may
    simply not have arrived yet (apply right after activate must work). If members
    does not answer, a member the view knows is judged by the view.
    """
    return current_member(session, members, member_id, MemberView, apply_member_record,
                          trusted=lambda view: view.status == "active")


# -- applications ----------------------------------------------------------------

def _application_message(application, scheme, assessment, **extra):
    return {**application.to_record(), "scheme_title": scheme.title,
            "venue": assessment.venue, "starts_at": iso(assessment.starts_at), **extra}


def apply(session, outbox, members, data):
    fields = load(apply_schema, data)
    scheme = _known_scheme(session, fields["scheme_code"])
    if fields["self_assessment"]:
        domain.check_self_assessment(scheme.unit_codes, fields["self_assessment"])
    assessment = session.get(AssessmentSession, fields["session_id"])
    if assessment is None:
        raise NotFound(f"no session {fields['session_id']}")
    if assessment.scheme_code != scheme.code:
        raise Conflict(f"session {assessment.id} is for scheme {assessment.scheme_code}")
    member = _current_member(session, members, fields["member_id"])
    if member.status != "active":
        raise Forbidden(f"member is {member.status}, not active")
    if scheme.requires_training and session.scalars(
            select(TrainingAttendance).where(
                TrainingAttendance.member_id == member.member_id,
                TrainingAttendance.scheme_code == scheme.code)).first() is None:
        raise Forbidden(f"scheme {scheme.code} requires a training the member has not attended")
    now = utcnow()
    open_application = select(Application.id).where(
        Application.member_id == member.member_id, Application.scheme_code == scheme.code,
        Application.status == "submitted")
    if session.scalars(open_application).first() is not None:
        raise Conflict("the member has an open application for this scheme")
    for certificate in session.scalars(select(Certificate).where(
            Certificate.member_id == member.member_id, Certificate.scheme_code == scheme.code)):
        if domain.blocks_new_application(certificate.status, certificate.valid_until, now):
            raise Conflict(f"the member holds certificate {certificate.number} for this scheme, "
                           "valid for more than 180 days")
    # The session row's lock makes concurrent applications take seats one at a time.
    assessment = session.scalars(select(AssessmentSession).where(
        AssessmentSession.id == assessment.id).with_for_update()
        .execution_options(populate_existing=True)).one()
    if assessment.starts_at <= now:
        raise Conflict("the session has already started")
    if assessment.seats_taken >= assessment.capacity:
        raise Conflict("the session is full")
    assessment.seats_taken += 1
    application = Application(
        id=str(uuid.uuid4()), member_id=member.member_id, scheme_code=scheme.code,
        session_id=assessment.id, status="submitted",
        self_assessment=fields["self_assessment"], result=None,
        created_at=utcnow_precise(), decided_at=None)
    session.add(application)
    flush_or_conflict(session, "the member has an open application for this scheme")
    outbox.add("application_submitted", _application_message(application, scheme, assessment))
    return application.to_record()


def get_application(session, application_id):
    application = session.get(Application, parse_uuid(application_id, "application_id"))
    if application is None:
        raise NotFound(f"no application {application_id}")
    return application.to_record()


def list_applications(session, filters):
    filters = load(application_filters_schema, filters, field_name="filters")
    query = select(Application)
    for name in ("member_id", "session_id", "status"):
        if name in filters:
            query = query.where(getattr(Application, name) == filters[name])
    return paginate(session, query, [(Application.created_at, "datetime"),
                                     (Application.id, "uuid")],
                    filters["limit"], filters["cursor"])


# -- results and certificates ------------------------------------------------------

def verify_url(public_base_url, number):
    return f"{public_base_url.rstrip('/')}/certificates/{number}"


def certificate_message(certificate, public_base_url, **extra):
    record = certificate.to_record()
    del record["credential"]
    return {**record, "verify_url": verify_url(public_base_url, certificate.number), **extra}


def credential_claims(certificate, public_base_url):
    """The public facts a verifier can check offline; no ids, no contact details."""
    return {
        "iss": public_base_url.rstrip("/"),
        "sub": certificate.number,
        "iat": int(certificate.issued_at.timestamp()),
        "exp": int(certificate.valid_until.timestamp()),
        "certificate": {
            "number": certificate.number,
            "holder_name": certificate.holder_name,
            "scheme_code": certificate.scheme_code,
            "scheme_title": certificate.scheme_title,
            "issued_at": iso(certificate.issued_at),
            "valid_until": iso(certificate.valid_until),
        },
    }


def _issue_certificate(session, signer, application, scheme, holder_name, public_base_url):
    issued_at = utcnow()
    while True:
        number = domain.new_certificate_number(issued_at.year)
        if session.get(Certificate, number) is None:
            break
    certificate = Certificate(
        number=number, application_id=application.id, member_id=application.member_id,
        holder_name=holder_name, scheme_code=scheme.code, scheme_title=scheme.title,
        status="active", issued_at=issued_at,
        valid_until=domain.validity_end(issued_at, scheme.validity_months),
        kid=signer.kid, reminders_sent=[], status_reason=None, created_seq=utcnow_precise())
    certificate.credential = signer.sign(credential_claims(certificate, public_base_url))
    session.add(certificate)
    return certificate


def record_result(session, outbox, signer, public_base_url, application_id, data):
    application_id = parse_uuid(application_id, "application_id")
    fields = load(record_result_schema, data)
    application = session.scalars(select(Application).where(
        Application.id == application_id).with_for_update()).first()
    if application is None:
        raise NotFound(f"no application {application_id}")
    if application.status != "submitted":
        raise Conflict(f"the application is already decided: {application.status}")
    assessor = session.get(Assessor, fields["assessor_id"])
    if assessor is None:
        raise NotFound(f"no assessor {fields['assessor_id']}")
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
    if outcome == "competent":
        certificate = _issue_certificate(session, signer, application, scheme,
                                         applicant.full_name if applicant else "",
                                         public_base_url)
        outbox.add("certificate_issued", certificate_message(certificate, public_base_url))
    session.flush()
    return {"application": application.to_record(),
            "certificate": certificate.to_record() if certificate else None}


def _load_certificate(session, number, for_update=False):
    query = select(Certificate).where(Certificate.number == _certificate_number_arg(number))
    if for_update:
        query = query.with_for_update()
    certificate = session.scalars(query).first()
    if certificate is None:
        raise NotFound(f"no certificate {number}")
    return certificate


def get_certificate(session, number):
    return _load_certificate(session, number).to_record()


def list_certificates(session, filters):
    filters = load(certificate_filters_schema, filters, field_name="filters")
    query = select(Certificate)
    for name in ("member_id", "scheme_code", "status"):
        if name in filters:
            query = query.where(getattr(Certificate, name) == filters[name])
    return paginate(session, query, [(Certificate.created_seq, "datetime"),
                                     (Certificate.number, "str")],
                    filters["limit"], filters["cursor"])


def verify(session, number, now=None):
    """The public view of a certificate: no email, phone or internal ids."""
    certificate = _load_certificate(session, number)
    return {
        "number": certificate.number,
        "valid": domain.is_valid(certificate.status, certificate.valid_until, now or utcnow()),
        "status": certificate.status,
        "holder_name": certificate.holder_name,
        "scheme_code": certificate.scheme_code,
        "scheme_title": certificate.scheme_title,
        "issued_at": iso(certificate.issued_at),
        "valid_until": iso(certificate.valid_until),
    }


def credential(session, number):
    return _load_certificate(session, number).credential


def change_certificate_status(session, outbox, public_base_url, number, action, reason=None):
    """suspend / reinstate / revoke, each a ``Conflict`` from the wrong state."""
    if action != "reinstate":
        reason = load(reason_schema, {"reason": reason})["reason"]
    certificate = _load_certificate(session, number, for_update=True)
    certificate.status = domain.next_certificate_status(action, certificate.status)
    certificate.status_reason = reason
    extra = {"reason": reason} if reason is not None else {}
    event_type = {"suspend": "certificate_suspended", "reinstate": "certificate_reinstated",
                  "revoke": "certificate_revoked"}[action]
    outbox.add(event_type, certificate_message(certificate, public_base_url, **extra))
    return certificate.to_record()


def expire_due(session, outbox, public_base_url, now=None):
    """Expire active certificates past ``valid_until``; send the 90- and 30-day reminders."""
    now = utcnow() if now is None else parse_input_time(now, "now")
    counts = {"expired": 0, "expiring_90": 0, "expiring_30": 0}
    due = session.scalars(select(Certificate).where(
        Certificate.status == "active", Certificate.valid_until <= now)
        .order_by(Certificate.valid_until).with_for_update(skip_locked=True)).all()
    for certificate in due:
        certificate.status = domain.next_certificate_status("expire", certificate.status)
        outbox.add("certificate_expired", certificate_message(certificate, public_base_url))
        counts["expired"] += 1
    horizon = now + timedelta(days=max(domain.REMINDER_DAYS))
    soon = session.scalars(select(Certificate).where(
        Certificate.status == "active", Certificate.valid_until > now,
        Certificate.valid_until <= horizon)
        .order_by(Certificate.valid_until).with_for_update(skip_locked=True)).all()
    for certificate in soon:
        threshold = domain.reminder_due(certificate.valid_until, now, certificate.reminders_sent)
        if threshold is None:
            continue
        # The 30-day reminder also settles the 90-day one: never send a stale one later.
        certificate.reminders_sent = sorted(
            set(certificate.reminders_sent) | {r for r in domain.REMINDER_DAYS if r >= threshold})
        outbox.add("certificate_expiring", certificate_message(
            certificate, public_base_url,
            days_left=domain.days_left(certificate.valid_until, now), reminder=threshold))
        counts[f"expiring_{threshold}"] += 1
    return counts


def jwks(session):
    keys = session.scalars(select(SigningKey).order_by(SigningKey.first_used_at)).all()
    return {"keys": [key.public_jwk for key in keys]}
