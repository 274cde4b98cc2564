"""Certificates: issued, verified (also offline, by their signed credential),
suspended, reinstated, revoked, expired, and reminded of before they expire."""
from datetime import timedelta

from sqlalchemy import select

from services.certification import domain
from services.certification.models import Certificate, SigningKey
from services.certification.schemas import certificate_filters_schema, reason_schema
from shared.db import get_or_not_found
from shared.errors import ValidationError
from shared.pagination import paginate, where_equal
from shared.schemas import load
from shared.timeutil import iso, parse_input_time, utcnow, utcnow_precise


def _certificate_number_arg(number):
    if not domain.is_certificate_number(number):
        raise ValidationError.field("number", "Not a certificate number (CRT-YYYY-XXXX-XXXX-XXXX).")
    return number


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


def issue_certificate(session, signer, application, scheme, holder_name, public_base_url):
    """A new, signed certificate for a competent application (added, not yet flushed)."""
    issued_at = utcnow()
    while True:
        number = domain.new_certificate_number(issued_at.year)
        if session.get(Certificate, number) is None:
            break
    certificate = Certificate(
        number=number, application_id=application.id, member_id=application.member_id,
        holder_name=holder_name, scheme_code=scheme.code, scheme_title=scheme.title,
        status=domain.ACTIVE, issued_at=issued_at,
        valid_until=domain.validity_end(issued_at, scheme.validity_months),
        kid=signer.kid, reminders_sent=[], status_reason=None, created_seq=utcnow_precise())
    certificate.credential = signer.sign(credential_claims(certificate, public_base_url))
    session.add(certificate)
    return certificate


def _load_certificate(session, number, for_update=False):
    return get_or_not_found(session, Certificate, _certificate_number_arg(number),
                            f"no certificate {number}", for_update=for_update)


def get_certificate(session, number):
    return _load_certificate(session, number).to_record()


def list_certificates(session, filters):
    filters = load(certificate_filters_schema, filters, field_name="filters")
    query = where_equal(select(Certificate), Certificate, filters,
                        ("member_id", "scheme_code", "status"))
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
    """The certificate's signed credential (a JWS), for offline verification."""
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
        Certificate.status == domain.ACTIVE, Certificate.valid_until <= now)
        .order_by(Certificate.valid_until).with_for_update(skip_locked=True)).all()
    for certificate in due:
        certificate.status = domain.next_certificate_status("expire", certificate.status)
        outbox.add("certificate_expired", certificate_message(certificate, public_base_url))
        counts["expired"] += 1
    horizon = now + timedelta(days=max(domain.REMINDER_DAYS))
    soon = session.scalars(select(Certificate).where(
        Certificate.status == domain.ACTIVE, Certificate.valid_until > now,
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
    """Every public key that ever signed a certificate, so old credentials still verify."""
    keys = session.scalars(select(SigningKey).order_by(SigningKey.first_used_at)).all()
    return {"keys": [key.public_jwk for key in keys]}
