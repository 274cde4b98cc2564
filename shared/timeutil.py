"""UTC times as the contract writes them: ISO 8601 with an offset, to the second."""
import calendar
from datetime import date, datetime, timezone

from shared.errors import ValidationError


EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)


def utcnow():
    """Now, in UTC, to the second: what is stored is exactly what is shown."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def utcnow_precise():
    """Now, in UTC, to the microsecond: for creation times that order records."""
    return datetime.now(timezone.utc)


def as_utc(value):
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def iso(value):
    """``2026-11-28T03:00:00+00:00``; dates as ``YYYY-MM-DD``; None stays None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not a date or datetime: {value!r}")


def parse_input_time(value, field):
    """An ISO 8601 time from a caller, which must carry its offset (``Z``, ``+00:00``,
    ``+08:00``...). A time without one is refused rather than guessed: operators in
    Kalimantan think in WITA (+08:00), and reading their 09:00 as UTC would move an
    event or an expiry run by eight hours."""
    return _parse_time(value, field, offset_required=True)


def parse_iso_datetime(value, field):
    """An ISO 8601 string (from a message or a caller); naive times are taken as UTC.
    For what callers send, use ``parse_input_time``, which refuses naive times."""
    return _parse_time(value, field, offset_required=False)


def _parse_time(value, field, offset_required):
    if not isinstance(value, str) or len(value) > 40:
        raise ValidationError.field(field, "Not a valid ISO 8601 datetime.")
    try:
        read = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError.field(field, "Not a valid ISO 8601 datetime.") from None
    if offset_required and read.tzinfo is None:
        raise ValidationError.field(
            field, "Needs a UTC offset, e.g. 2026-12-05T09:00:00+08:00 or ...T01:00:00Z.")
    try:
        parsed = as_utc(read)
    except OverflowError:  # e.g. year 1 at +14:00 is before year 1 UTC
        raise ValidationError.field(field, "Not a valid ISO 8601 datetime.") from None
    if not EARLIEST <= parsed <= LATEST:
        # Far outside any real use, and it keeps date arithmetic (+36 months) from overflowing.
        raise ValidationError.field(field, "Must be between the years 1900 and 9000.")
    return parsed


def add_months(moment, months):
    """The same day ``months`` later, clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
