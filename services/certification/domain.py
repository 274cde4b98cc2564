"""Certification rules (uji kompetensi and sertifikasi, after the BNSP/LSP process),
in plain Python: no database, no broker.

    scheme (skema) -> application (APL-01, with an APL-02 self-assessment)
      -> assessment at a venue (TUK) by an assessor (asesor)
      -> decision: competent (Kompeten) or not_yet_competent (Belum Kompeten)
      -> certificate, valid for the scheme's validity_months

Application states: submitted -> competent or not_yet_competent (final).
Certificate states: active <-> suspended; active/suspended -> revoked (final);
active -> expired (past valid_until).
"""
import secrets
from datetime import timedelta

from shared.errors import Conflict, Forbidden, ValidationError
from shared.timeutil import add_months

# Applying again for a scheme is allowed only when the member's valid certificate
# for it expires within this window (time to re-certify before it lapses).
RECERTIFICATION_WINDOW = timedelta(days=180)
REMINDER_DAYS = (90, 30)
DEFAULT_VALIDITY_MONTHS = 36

# An application is submitted, then decided: one of the OUTCOMES.
SUBMITTED, COMPETENT, NOT_YET_COMPETENT = "submitted", "competent", "not_yet_competent"
OUTCOMES = (COMPETENT, NOT_YET_COMPETENT)
APPLICATION_STATUSES = (SUBMITTED, *OUTCOMES)
# A certificate's statuses (a member's are the members service's own).
ACTIVE, SUSPENDED, REVOKED, EXPIRED = "active", "suspended", "revoked", "expired"
# A member's status as members sends it: only an active member may apply.
MEMBER_ACTIVE = "active"
CERTIFICATE_STATUSES = (ACTIVE, SUSPENDED, REVOKED, EXPIRED)

CERTIFICATE_TRANSITIONS = {
    "suspend": ({ACTIVE}, SUSPENDED),
    "reinstate": ({SUSPENDED}, ACTIVE),
    "revoke": ({ACTIVE, SUSPENDED}, REVOKED),
    "expire": ({ACTIVE}, EXPIRED),
}

# Crockford's base32: no I, L, O, U, so numbers read aloud or typed are unambiguous.
_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_NUMBER_GROUPS, _GROUP_LENGTH = 3, 4


def new_certificate_number(year):
    """``CRT-2026-7KQ2-M9XD-4FJA``: 60 random bits, so one number tells nothing of another."""
    groups = ["".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(_GROUP_LENGTH))
              for _ in range(_NUMBER_GROUPS)]
    return f"CRT-{year:04d}-" + "-".join(groups)


def is_certificate_number(text):
    if not isinstance(text, str) or len(text) != 23 or not text.startswith("CRT-"):
        return False
    year, *groups = text[4:].split("-")
    return (year.isascii() and year.isdigit() and len(groups) == _NUMBER_GROUPS
            and all(len(g) == _GROUP_LENGTH and set(g) <= set(_NUMBER_ALPHABET) for g in groups))


def next_certificate_status(action, status):
    allowed_from, target = CERTIFICATE_TRANSITIONS[action]
    if status not in allowed_from:
        raise Conflict(f"cannot {action} a certificate that is {status}")
    return target


def validity_end(issued_at, validity_months):
    return add_months(issued_at, validity_months)


def is_valid(status, valid_until, now):
    return status == ACTIVE and valid_until > now


def decide(scheme_unit_codes, unit_results):
    """The outcome of an assessment: every unit of the scheme, each exactly once.

    ``unit_results`` is a list of ``{"unit_code", "competent"}``. Returns
    ``"competent"`` when every unit is, else ``"not_yet_competent"``.
    """
    codes = [unit["unit_code"] for unit in unit_results]
    repeated = sorted({code for code in codes if codes.count(code) > 1})
    unknown = sorted(set(codes) - set(scheme_unit_codes))
    missing = sorted(set(scheme_unit_codes) - set(codes))
    problems = []
    if repeated:
        problems.append(f"Repeated units: {', '.join(repeated)}.")
    if unknown:
        problems.append(f"Units not in the scheme: {', '.join(unknown)}.")
    if missing:
        problems.append(f"Missing units: {', '.join(missing)}.")
    if problems:
        raise ValidationError({"units": problems})
    return COMPETENT if all(unit["competent"] for unit in unit_results) else NOT_YET_COMPETENT


def check_self_assessment(scheme_unit_codes, claims):
    """APL-02: optional, but each claim must name a unit of the scheme, once."""
    codes = [claim["unit_code"] for claim in claims]
    problems = []
    if len(set(codes)) != len(codes):
        problems.append("Each unit may be claimed once.")
    unknown = sorted(set(codes) - set(scheme_unit_codes))
    if unknown:
        problems.append(f"Units not in the scheme: {', '.join(unknown)}.")
    if problems:
        raise ValidationError({"self_assessment": problems})


def check_assessor_is_impartial(assigned, assessor_member_id, assessor_email,
                                applicant_member_id, applicant_email):
    """Only an assessor assigned to the session, and never on their own application.

    An assessor's ``member_id`` is optional, so the link alone cannot tell that
    the assessor is the applicant: the same email (case aside) does too.
    """
    if not assigned:
        raise Forbidden("this assessor is not assigned to the application's session")
    same_member = assessor_member_id is not None and assessor_member_id == applicant_member_id
    same_email = bool(assessor_email) and bool(applicant_email) and \
        assessor_email.casefold() == applicant_email.casefold()
    if same_member or same_email:
        raise Forbidden("an assessor may not assess their own application")


def blocks_new_application(certificate_status, valid_until, now):
    """A certificate in force blocks a new application unless it expires within 180 days.

    A suspended one blocks too: applying again must not sidestep a suspension.
    """
    return certificate_status in (ACTIVE, SUSPENDED) and \
        valid_until - now > RECERTIFICATION_WINDOW


# What an application needs, checked in this order by ``operations.applications.apply``.

def check_session_is_for_scheme(session_id, session_scheme_code, scheme_code):
    if session_scheme_code != scheme_code:
        raise Conflict(f"session {session_id} is for scheme {session_scheme_code}")


def check_member_may_apply(member_status):
    """Only an active member (the members service's status) may apply."""
    if member_status != MEMBER_ACTIVE:
        raise Forbidden(f"member is {member_status}, not active")


def check_training_attended(scheme_code, requires_training, attended):
    """A scheme that requires training takes only members who attended one preparing for it."""
    if requires_training and not attended:
        raise Forbidden(f"scheme {scheme_code} requires a training the member has not attended")


def check_no_open_application(has_open_application):
    """One application per member and scheme awaits its decision at a time."""
    if has_open_application:
        raise Conflict("the member has an open application for this scheme")


def check_no_certificate_in_force(certificates, now):
    """``certificates``: the member's for the scheme, each with ``number``, ``status``
    and ``valid_until``; one that blocks a new application is a ``Conflict``."""
    for certificate in certificates:
        if blocks_new_application(certificate.status, certificate.valid_until, now):
            raise Conflict(f"the member holds certificate {certificate.number} for this scheme, "
                           "valid for more than 180 days")


def check_session_has_seat(starts_at, seats_taken, capacity, now):
    """A session takes applications until it starts, while it has seats."""
    if starts_at <= now:
        raise Conflict("the session has already started")
    if seats_taken >= capacity:
        raise Conflict("the session is full")


def check_undecided(application_status):
    """A result is recorded once: a decided application is a ``Conflict``."""
    if application_status != SUBMITTED:
        raise Conflict(f"the application is already decided: {application_status}")


def days_left(valid_until, now):
    """Whole days until ``valid_until`` (rounded up: 89.5 days left is 90)."""
    seconds = (valid_until - now).total_seconds()
    return max(0, int(-(-seconds // 86400)))


def reminder_due(valid_until, now, already_sent):
    """Which reminder (90 or 30 days) is due now, if any.

    Each is sent once. When a check first runs inside the 30-day window, only the
    30-day reminder goes out: the 90-day one would be stale.
    """
    left = valid_until - now
    if left <= timedelta(0):
        return None
    for threshold in sorted(REMINDER_DAYS):
        if left <= timedelta(days=threshold):
            return None if threshold in already_sent else threshold
    return None
