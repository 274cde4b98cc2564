"""Notification rules, in plain Python: who hears of a message, in which words,
and when a failed send is tried again. No database, no network.

Texts live in ``templates/<locale>/<source>.<event_type>.txt``: a ``Subject:`` line,
a blank line, the body, with ``$placeholders`` filled from the message's data
(``string.Template``: values are inserted as text, never evaluated). The files of
the default locale (``id``) are the catalogue of messages this service reacts to:
adding a message type, or a language, is adding files.
"""
import functools
import string
import uuid
from datetime import timedelta, timezone
from pathlib import Path

from shared.envelope import MalformedMessage
from shared.subsectors import SUBSECTORS
from shared.timeutil import parse_iso_datetime

TEMPLATE_DIR = Path(__file__).parent / "templates"
DEFAULT_LOCALE = "id"
CHANNELS = ("in_app", "email", "sms")
DELIVERY_STATUSES = ("pending", "sent", "failed")
WITA = timezone(timedelta(hours=8), "WITA")  # East Kalimantan's time zone

MONTHS = {
    "id": ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
           "September", "Oktober", "November", "Desember"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
}
OUTCOMES = {"competent": ("Kompeten", "Competent"),
            "not_yet_competent": ("Belum Kompeten", "Not yet competent")}


def catalog(template_dir=TEMPLATE_DIR):
    """``[(source_service, event_type), ...]``: every message with a template."""
    return sorted(tuple(path.stem.split(".", 1))
                  for path in (template_dir / DEFAULT_LOCALE).glob("*.*.txt"))


@functools.lru_cache(maxsize=None)
def locales(template_dir=TEMPLATE_DIR):
    return tuple(sorted(path.name for path in template_dir.iterdir() if path.is_dir()))


@functools.lru_cache(maxsize=None)
def template_text(source, event_type, locale, template_dir=TEMPLATE_DIR):
    """``(text, locale)``: the template in ``locale``, or in the default locale when
    it has none (and then the whole notice is in the default locale)."""
    for candidate in (locale, DEFAULT_LOCALE):
        path = template_dir / candidate / f"{source}.{event_type}.txt"
        if path.is_file():
            return path.read_text(encoding="utf-8-sig"), candidate
    raise LookupError(f"no template for {source}.{event_type}")


def render(text, values):
    """``(subject, body)`` from a template and its values.

    Every placeholder must have a value: a message that lacks one is malformed
    (parked, with the reason), never sent with ``$venue`` showing.
    """
    first_line, _, rest = text.partition("\n")
    if not first_line.startswith("Subject:"):
        raise ValueError("a template starts with a 'Subject:' line")
    try:
        subject = string.Template(first_line[len("Subject:"):].strip()).substitute(values)
        body = string.Template(rest.strip("\n")).substitute(values)
    except KeyError as missing:
        raise MalformedMessage(f"the message lacks {missing}, which its template needs") from None
    return " ".join(subject.split())[:250], body


def format_date(value, locale):
    """``28 November 2026``, in East Kalimantan's time (WITA)."""
    moment = parse_iso_datetime(value, "date").astimezone(WITA)
    months = MONTHS.get(locale, MONTHS["en"])
    return f"{moment.day} {months[moment.month - 1]} {moment.year}"


def format_date_time(value, locale):
    moment = parse_iso_datetime(value, "date").astimezone(WITA)
    return f"{format_date(value, locale)}, {moment:%H:%M} WITA"


def template_values(data, contact_name, locale):
    """The placeholders a template may use: the message's data, made readable."""
    values = {key: ("" if value is None else str(value)) for key, value in data.items()
              if isinstance(value, (str, int, float, bool)) or value is None}
    values["full_name"] = contact_name or data.get("full_name") or ""
    for key in ("valid_until", "issued_at", "active_since"):
        if data.get(key):
            values[f"{key}_date"] = format_date(data[key], locale)
    if data.get("starts_at"):
        values["starts_at_date"] = format_date_time(data["starts_at"], locale)
    if data.get("subsector") in SUBSECTORS:
        values["subsector_name_id"], values["subsector_name_en"] = SUBSECTORS[data["subsector"]]
    if data.get("outcome") in OUTCOMES:
        values["outcome_id"], values["outcome_en"] = OUTCOMES[data["outcome"]]
    return values


def recipients(source, event_type, data):
    """Who a message concerns, by id; ``None`` for an announcement to an audience."""
    if (source, event_type) == ("events", "event_published"):
        return None
    if source == "members":
        ids = [data.get("id")]
    elif isinstance(data.get("member_ids"), list):
        ids = data["member_ids"]
    else:
        ids = [data.get("member_id")]
    return list(dict.fromkeys(filter(None, map(_canonical_id, ids))))


def _canonical_id(value):
    """A member id in its canonical form, or None: one bad id must not stop the rest."""
    try:
        return str(uuid.UUID(str(value))) if value else None
    except ValueError:
        return None


def wants_announcement(contact_status, contact_city, contact_subsector, wants, event):
    """An event is announced to active members who want announcements, in its city,
    of its subsectors (all subsectors when it names none)."""
    subsectors = event.get("subsectors") or []
    return (contact_status == "active" and wants
            and (contact_city or "").casefold() == (event.get("city") or "").casefold()
            and (not subsectors or contact_subsector in subsectors))


def channels_for(preferences, has_email, has_phone, sms_enabled):
    """In-app always; email and SMS as the member allows and the platform can."""
    chosen = ["in_app"]
    if preferences["email"] and has_email:
        chosen.append("email")
    if preferences["sms"] and has_phone and sms_enabled:
        chosen.append("sms")
    return chosen


def next_attempt_delay(attempts, delays):
    """Seconds until the next try after ``attempts`` failures; None when given up.

    ``delays`` is the backoff schedule (e.g. 5, 30, 120, 600 seconds): one more try
    after each, then the delivery ends ``failed``.
    """
    if attempts > len(delays):
        return None
    return delays[attempts - 1]
