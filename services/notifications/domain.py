"""Notification rules, in plain Python: who hears of a message, in which words,
whether its data is what they need, and when a failed send is tried again.
No database, no network.

Texts live in ``templates/<locale>/<source>.<event_type>.txt``: a ``Subject:`` line,
a blank line, the body, with ``$placeholders`` filled from the message's data
(``string.Template``: values are inserted as text, never evaluated). The files of
the default locale (``id``) are the catalogue of messages this service tells members
of, each with its handler in ``service.py``: a new message type is its templates and
that one handler; a new language is only files.

A placeholder is a field of the data, written as text, or made readable from one:

- ``$<field>_date`` / ``$<field>_date_time``: an ISO 8601 time as ``28 November 2026``
  / ``28 November 2026, 11:00 WITA``, with the month names of the locale;
- ``$<field>_name``: the locale's name for the field's code, when the locale's
  ``words.json`` has a table of names for that field (``subsector``, ``outcome``);
- ``$full_name``: the member's name as the directory knows it.

Each locale's ``words.json`` holds its month names and those tables of names.
"""
import functools
import json
import string
import uuid
from datetime import timedelta, timezone
from pathlib import Path

from shared.envelope import MalformedMessage
from shared.errors import ValidationError
from shared.timeutil import parse_iso_datetime

TEMPLATE_DIR = Path(__file__).parent / "templates"
WORDS_FILE = "words.json"
DEFAULT_LOCALE = "id"
IN_APP, EMAIL, SMS = "in_app", "email", "sms"
CHANNELS = (IN_APP, EMAIL, SMS)
# A delivery is pending until sent (an in-app one at once), or failed once every retry
# has failed too.
PENDING, SENT, FAILED = "pending", "sent", "failed"
DELIVERY_STATUSES = (PENDING, SENT, FAILED)
MEMBER_ACTIVE = "active"  # the members status of those who hear of new events
WITA = timezone(timedelta(hours=8), "WITA")  # East Kalimantan's time zone

ANNOUNCEMENT = "announcement"
# Whom a message concerns: the field of its data naming the member(s), by
# ``source.event_type`` or by source; ``member_id`` for any message not listed, so a
# new message type about one member needs no entry here. An announcement goes
# to the audience its ``city`` and ``subsectors`` describe (``wants_announcement``).
ADDRESSED_BY = {
    "members": "id",  # a members message carries the member's own record
    "events.event_cancelled": "member_ids",  # everyone registered
    "events.event_published": ANNOUNCEMENT,
}


def catalog(template_dir=TEMPLATE_DIR):
    """``[(source_service, event_type), ...]``: every message with a template."""
    return sorted(tuple(path.stem.split(".", 1))
                  for path in (template_dir / DEFAULT_LOCALE).glob("*.*.txt"))


def event_types(template_dir=TEMPLATE_DIR):
    """The event types notifications are made for (what ``list_deliveries`` filters on)."""
    return sorted({event_type for _, event_type in catalog(template_dir)})


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


@functools.lru_cache(maxsize=None)
def words(locale, template_dir=TEMPLATE_DIR):
    """A locale's ``words.json``: ``{"months": [12 names], "names": {field: {code: name}}}``."""
    path = template_dir / locale / WORDS_FILE
    if not path.is_file():
        raise LookupError(f"templates/{locale} has no {WORDS_FILE}")
    return json.loads(path.read_text(encoding="utf-8-sig"))


@functools.lru_cache(maxsize=None)
def placeholders(text):
    """The names a template uses, in order."""
    return tuple(string.Template(text).get_identifiers())


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


def format_date(value, locale, template_dir=TEMPLATE_DIR):
    """``28 November 2026``, in East Kalimantan's time (WITA), in the locale's words."""
    moment = parse_iso_datetime(value, "date").astimezone(WITA)
    months = words(locale, template_dir)["months"]
    return f"{moment.day} {months[moment.month - 1]} {moment.year}"


def format_date_time(value, locale, template_dir=TEMPLATE_DIR):
    moment = parse_iso_datetime(value, "date").astimezone(WITA)
    return f"{format_date(value, locale, template_dir)}, {moment:%H:%M} WITA"


def _as_text(value, locale, template_dir):
    return "" if value is None else str(value)


def _named(field):
    def name(value, locale, template_dir):
        return words(locale, template_dir)["names"][field][value]
    return name


# -- what a message's data must hold ----------------------------------------------------

def _is_uuid(value):
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_time(value):
    try:
        parse_iso_datetime(value, "value")
    except ValidationError:
        return False
    return True


PLAIN = ("a string, number, boolean or null",
         lambda value: value is None or isinstance(value, (str, int, float, bool)))
TIME = ("an ISO 8601 date-time", _is_time)
# The shape of the fields that have a rule of their own; any other field a template
# uses must be PLAIN.
FIELD_SHAPES = {
    "id": ("a UUID", _is_uuid),
    "member_id": ("a UUID", _is_uuid),
    "member_ids": ("a list of UUIDs",
                   lambda value: isinstance(value, list) and all(map(_is_uuid, value))),
    "city": ("a non-empty string", lambda value: isinstance(value, str) and bool(value.strip())),
    "subsectors": ("a list of strings", lambda value: isinstance(value, list)
                   and all(isinstance(item, str) for item in value)),
}


def address_of(source, event_type):
    """The field naming whom a message concerns, or ``ANNOUNCEMENT``."""
    return ADDRESSED_BY.get(f"{source}.{event_type}", ADDRESSED_BY.get(source, "member_id"))


def _placeholder_source(name, locale, template_dir):
    """``(field, shape, readable)``: the data field placeholder ``name`` is made from
    (None for ``full_name``, the directory's), what the field must hold, and how its
    value is written in ``locale``."""
    if name == "full_name":
        return None, None, None
    if name.endswith("_date_time"):
        return name[:-len("_date_time")], TIME, format_date_time
    if name.endswith("_date"):
        return name[:-len("_date")], TIME, format_date
    names = words(locale, template_dir)["names"]
    if name.endswith("_name") and name[:-len("_name")] in names:
        field = name[:-len("_name")]
        codes = names[field]
        return field, (f"one of {', '.join(codes)}",
                       lambda value: isinstance(value, str) and value in codes), _named(field)
    return name, FIELD_SHAPES.get(name, PLAIN), _as_text


@functools.lru_cache(maxsize=None)
def needed_fields(source, event_type, template_dir=TEMPLATE_DIR):
    """``{field: (what it must be, check)}``: what a message's data must hold: the
    field(s) naming whom it concerns, and every field its templates use, in every
    locale that has one."""
    address = address_of(source, event_type)
    needed = {field: FIELD_SHAPES[field]
              for field in (("city", "subsectors") if address == ANNOUNCEMENT else (address,))}
    for locale in locales(template_dir):
        path = template_dir / locale / f"{source}.{event_type}.txt"
        if not path.is_file():
            continue
        text, _ = template_text(source, event_type, locale, template_dir)
        for name in placeholders(text):
            field, shape, _ = _placeholder_source(name, locale, template_dir)
            if field is not None:
                needed.setdefault(field, shape)
    return needed


def check_message(source, event_type, data, template_dir=TEMPLATE_DIR):
    """Raise ``MalformedMessage`` (parked at once, with the reason) naming every field
    ``data`` lacks or holds in the wrong shape; called before anything is written."""
    missing, wrong = [], []
    for field, (shape, check) in needed_fields(source, event_type, template_dir).items():
        if field not in data:
            missing.append(field)
        elif not check(data[field]):
            wrong.append(f"{field} must be {shape}")
    if missing or wrong:
        problems = ([f"data lacks {', '.join(missing)}"] if missing else []) + wrong
        raise MalformedMessage(f"{source}.{event_type}: {'; '.join(problems)}")
    return data


def template_values(text, data, contact_name, locale, template_dir=TEMPLATE_DIR):
    """The value of each placeholder ``text`` uses: the message's data, made readable
    in ``locale``. A placeholder whose field is missing is left out (``render`` says so)."""
    values = {}
    for name in placeholders(text):
        field, _, readable = _placeholder_source(name, locale, template_dir)
        if field is None:
            values[name] = contact_name or data.get("full_name") or ""
        elif field in data:
            values[name] = readable(data[field], locale, template_dir)
    return values


def recipients(source, event_type, data):
    """Whom a (checked) message concerns, by id; ``None`` for an announcement."""
    address = address_of(source, event_type)
    if address == ANNOUNCEMENT:
        return None
    ids = data[address] if isinstance(data[address], list) else [data[address]]
    return list(dict.fromkeys(str(uuid.UUID(member_id)) for member_id in ids))


def wants_announcement(contact_status, contact_city, contact_subsector, wants, event):
    """An event is announced to active members who want announcements, in its city,
    of its subsectors (all subsectors when it names none)."""
    subsectors = event["subsectors"]
    return (contact_status == MEMBER_ACTIVE and wants
            and (contact_city or "").casefold() == event["city"].casefold()
            and (not subsectors or contact_subsector in subsectors))


def channels_for(preferences, has_email, has_phone, sms_enabled):
    """In-app always; email and SMS as the member allows and the platform can."""
    chosen = [IN_APP]
    if preferences["email"] and has_email:
        chosen.append(EMAIL)
    if preferences["sms"] and has_phone and sms_enabled:
        chosen.append(SMS)
    return chosen


def next_attempt_delay(attempts, delays):
    """Seconds until the next try after ``attempts`` failures; None when given up.

    ``delays`` is the backoff schedule (e.g. 5, 30, 120, 600 seconds): one more try
    after each, then the delivery ends ``failed``.
    """
    if attempts > len(delays):
        return None
    return delays[attempts - 1]
