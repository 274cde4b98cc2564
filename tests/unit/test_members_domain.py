"""Membership rules, with no I/O."""
from datetime import datetime, timezone

import pytest

from services.members import domain
from shared.errors import Conflict, ValidationError


def at(*args):
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize("raw, e164", [
    ("0812-3456-7890", "+6281234567890"),
    ("+62 812 3456 7890", "+6281234567890"),
    ("6281234567890", "+6281234567890"),
    ("(0542) 123456", "+62542123456"),      # Balikpapan landline
    ("0541.7654321", "+625417654321"),      # Samarinda landline
])
def test_phone_numbers_are_normalised_to_e164(raw, e164):
    assert domain.normalize_phone(raw) == e164


@pytest.mark.parametrize("raw", [
    "812345678", "+1 202 555 0100", "0812", "0812-3456-7890-1234", "08x2345678",
    "+62 0812 345 678", "", "０８１２３４５６７８９", "٠٨١٢٣٤٥٦٧٨٩",
])
def test_bad_phone_numbers_are_refused_naming_the_field(raw):
    with pytest.raises(ValidationError) as caught:
        domain.normalize_phone(raw)
    assert "phone" in caught.value.errors


@pytest.mark.parametrize("action, start, end", [
    ("activate", "pending", "active"), ("suspend", "active", "suspended"),
    ("reinstate", "suspended", "active"), ("renew", "active", "active"),
    ("renew", "lapsed", "active"), ("lapse", "active", "lapsed"),
])
def test_allowed_transitions(action, start, end):
    assert domain.next_status(action, start) == end


def test_every_other_transition_is_a_conflict():
    allowed = {(action, start) for action, (starts, _) in domain.TRANSITIONS.items()
               for start in starts}
    for action in domain.TRANSITIONS:
        for status in domain.STATUSES:
            if (action, status) not in allowed:
                with pytest.raises(Conflict):
                    domain.next_status(action, status)


def test_member_number_format():
    assert domain.format_member_number(2026, 1) == "EKRAF-2026-000001"
    assert domain.format_member_number(2026, 999_999) == "EKRAF-2026-999999"
    assert domain.MEMBER_NUMBER_PATTERN.fullmatch(domain.format_member_number(2027, 42))
    assert not domain.MEMBER_NUMBER_PATTERN.fullmatch("EKRAF-2026-000001\n")
    assert not domain.MEMBER_NUMBER_PATTERN.fullmatch("EKRAF-２０２６-000001")
    with pytest.raises(Conflict):
        domain.format_member_number(2026, 1_000_000)


def test_activation_gives_twelve_months():
    since, until = domain.activation_period(at(2026, 11, 28, 3, 0, 0))
    assert since == at(2026, 11, 28, 3, 0, 0)
    assert until == at(2027, 11, 28, 3, 0, 0)


def test_activation_on_a_leap_day_ends_on_the_last_day_of_february():
    assert domain.activation_period(at(2028, 2, 29))[1] == at(2029, 2, 28)


def test_renewal_extends_from_the_later_of_now_and_valid_until():
    now = at(2026, 11, 28)
    assert domain.renewed_until(now, at(2027, 3, 1)) == at(2028, 3, 1)   # early renewal
    assert domain.renewed_until(now, at(2026, 1, 1)) == at(2027, 11, 28)  # after lapsing


def test_a_member_lapses_only_when_active_and_past_valid_until():
    until = at(2027, 11, 28)
    assert domain.is_due_to_lapse("active", until, at(2027, 11, 28, 0, 0, 1))
    assert not domain.is_due_to_lapse("active", until, until)
    assert not domain.is_due_to_lapse("suspended", until, at(2030, 1, 1))


def test_nib_is_thirteen_digits():
    assert domain.validate_nib("1234567890123") == "1234567890123"
    for bad in ("123456789012", "12345678901234", "12345678901a3"):
        with pytest.raises(ValidationError):
            domain.validate_nib(bad)


def test_the_seventeen_subsectors():
    from shared.subsectors import list_subsectors

    subsectors = list_subsectors()
    assert len(subsectors) == 17
    assert all(s["name_id"] and s["name_en"] for s in subsectors)
