"""Membership rules, in plain Python: no database, no broker.

A member moves through these states (any other move is a ``Conflict``):

    pending --activate--> active --suspend--> suspended --reinstate--> active
    active --(valid_until passes)--> lapsed --renew--> active
    active --renew--> active (validity extended)
"""
import re

from shared.errors import Conflict, ValidationError
from shared.timeutil import add_months

MEMBERSHIP_MONTHS = 12
DEFAULT_PROVINCE = "Kalimantan Timur"
LOCALES = ("id", "en")
PENDING, ACTIVE, SUSPENDED, LAPSED = "pending", "active", "suspended", "lapsed"
STATUSES = (PENDING, ACTIVE, SUSPENDED, LAPSED)

# Which action may start from which status, and where it leads.
TRANSITIONS = {
    "activate": ({PENDING}, ACTIVE),
    "suspend": ({ACTIVE}, SUSPENDED),
    "reinstate": ({SUSPENDED}, ACTIVE),
    "renew": ({ACTIVE, LAPSED}, ACTIVE),
    "lapse": ({ACTIVE}, LAPSED),
}

_PHONE_SEPARATORS = re.compile(r"[\s\-.()]")
_NIB = re.compile(r"^\d{13}$")
MEMBER_NUMBER_PATTERN = re.compile(r"EKRAF-[0-9]{4}-[0-9]{6}")  # use with fullmatch


def next_status(action, status):
    """The status after ``action``, or ``Conflict`` if it may not start from ``status``."""
    allowed_from, target = TRANSITIONS[action]
    if status not in allowed_from:
        raise Conflict(f"cannot {action} a member who is {status}")
    return target


def normalize_phone(raw):
    """An Indonesian phone number as E.164 (``+62…``).

    Accepts the forms people write: ``0812-3456-7890``, ``+62 812 3456 7890``,
    ``62812…``, and landlines such as ``(0542) 123456`` (Balikpapan).
    """
    if not isinstance(raw, str):
        raise ValidationError.field("phone", "Not a valid string.")
    digits = _PHONE_SEPARATORS.sub("", raw)
    if digits.startswith("+62"):
        national = digits[3:]
    elif digits.startswith("62"):
        national = digits[2:]
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        raise ValidationError.field(
            "phone", "Not an Indonesian number: start with 0, 62 or +62.")
    if not national.isdigit() or not national.isascii() or national.startswith("0") \
            or not 8 <= len(national) <= 12:
        raise ValidationError.field("phone", "Not a valid Indonesian phone number.")
    return "+62" + national


def validate_nib(nib):
    """NIB (Nomor Induk Berusaha, the business registration number): 13 digits."""
    if not _NIB.match(nib) or not nib.isascii():
        raise ValidationError.field("nib", "Must be exactly 13 digits.")
    return nib


def format_member_number(year, sequence):
    if not 1 <= sequence <= 999_999:
        raise Conflict(f"member numbers for {year} are used up")
    return f"EKRAF-{year:04d}-{sequence:06d}"


def activation_period(now):
    """``(active_since, valid_until)`` for a member activated at ``now``."""
    return now, add_months(now, MEMBERSHIP_MONTHS)


def renewed_until(now, valid_until):
    """Renewal adds 12 months from the later of now and the current end."""
    start = max(now, valid_until) if valid_until is not None else now
    return add_months(start, MEMBERSHIP_MONTHS)


def is_due_to_lapse(status, valid_until, now):
    return status == ACTIVE and valid_until is not None and valid_until < now
