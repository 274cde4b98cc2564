"""Certification rules, with no I/O."""
from datetime import datetime, timedelta, timezone

import pytest

from services.certification import domain
from shared.errors import Conflict, Forbidden, ValidationError

UNITS = ["U1", "U2", "U3"]
NOW = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)


def results(*competent):
    return [{"unit_code": code, "competent": c} for code, c in zip(UNITS, competent)]


def test_all_units_competent_is_competent():
    assert domain.decide(UNITS, results(True, True, True)) == "competent"


def test_any_unit_not_competent_is_not_yet_competent():
    assert domain.decide(UNITS, results(True, False, True)) == "not_yet_competent"


@pytest.mark.parametrize("units, reason", [
    (results(True, True), "Missing units: U3"),
    (results(True, True, True) + results(True), "Repeated units: U1"),
    (results(True, True, True) + [{"unit_code": "X", "competent": True}], "not in the scheme: X"),
])
def test_every_unit_exactly_once(units, reason):
    with pytest.raises(ValidationError) as caught:
        domain.decide(UNITS, units)
    assert any(reason in problem for problem in caught.value.errors["units"])


def test_self_assessment_claims_name_scheme_units_once():
    domain.check_self_assessment(UNITS, [{"unit_code": "U1", "competent_claim": True}])
    for claims in ([{"unit_code": "U9", "competent_claim": True}],
                   [{"unit_code": "U1", "competent_claim": True}] * 2):
        with pytest.raises(ValidationError):
            domain.check_self_assessment(UNITS, claims)


def impartial(assigned=True, assessor_member_id=None, assessor_email="asesor@example.id",
              applicant_member_id="applicant", applicant_email="peserta@example.id"):
    domain.check_assessor_is_impartial(
        assigned=assigned, assessor_member_id=assessor_member_id,
        assessor_email=assessor_email, applicant_member_id=applicant_member_id,
        applicant_email=applicant_email)


def test_impartiality():
    impartial(assessor_member_id="assessor-member")
    impartial(assessor_member_id=None)
    impartial(applicant_email=None)  # a view without the applicant: the link still counts
    with pytest.raises(Forbidden):
        impartial(assessor_member_id="applicant")
    with pytest.raises(Forbidden):
        impartial(assigned=False)


def test_an_assessor_without_a_member_link_is_still_known_by_email():
    with pytest.raises(Forbidden, match="own application"):
        impartial(assessor_member_id=None, assessor_email="Peserta@Example.ID")
    with pytest.raises(Forbidden, match="own application"):
        impartial(assessor_member_id="someone-else", assessor_email="peserta@example.id")


def test_validity_from_the_scheme():
    assert domain.validity_end(NOW, 36) == NOW.replace(year=2029)
    assert domain.is_valid("active", NOW + timedelta(seconds=1), NOW)
    assert not domain.is_valid("active", NOW, NOW)
    assert not domain.is_valid("suspended", NOW + timedelta(days=1), NOW)


def test_certificate_transitions():
    assert domain.next_certificate_status("suspend", "active") == "suspended"
    assert domain.next_certificate_status("reinstate", "suspended") == "active"
    assert domain.next_certificate_status("revoke", "suspended") == "revoked"
    assert domain.next_certificate_status("expire", "active") == "expired"
    for action, status in [("reinstate", "active"), ("suspend", "revoked"), ("revoke", "revoked"),
                           ("revoke", "expired"), ("expire", "suspended"), ("suspend", "expired")]:
        with pytest.raises(Conflict):
            domain.next_certificate_status(action, status)


def test_numbers_are_well_formed_random_and_distinct():
    numbers = {domain.new_certificate_number(2026) for _ in range(2000)}
    assert len(numbers) == 2000
    assert all(domain.is_certificate_number(n) and n.startswith("CRT-2026-") for n in numbers)
    # Each position of the random part takes many values: nothing sequential to guess.
    for position in range(9, 23):
        if position in (13, 18):
            continue
        assert len({n[position] for n in numbers}) > 20


@pytest.mark.parametrize("text", ["", "CRT-2026-AAAA-AAAA", "CRT-2026-AAAA-AAAA-AAAI",
                                  "crt-2026-aaaa-aaaa-aaaa", "CRT-２０２６-AAAA-AAAA-AAAA",
                                  "CRT-2026-AAAA-AAAA-AAAA\n", None, 42, "X" * 5000])
def test_malformed_numbers(text):
    assert not domain.is_certificate_number(text)


@pytest.mark.parametrize("left, sent, due", [
    (timedelta(days=100), [], None),
    (timedelta(days=90), [], 90),
    (timedelta(days=45), [90], None),
    (timedelta(days=30), [90], 30),
    (timedelta(days=20), [], 30),          # first check inside 30 days: only the 30-day one
    (timedelta(days=20), [30, 90], None),
    (timedelta(seconds=-1), [], None),      # already past: expiry, not a reminder
])
def test_reminders_at_90_and_30_days_each_once(left, sent, due):
    assert domain.reminder_due(NOW + left, NOW, sent) == due


def test_days_left_rounds_up():
    assert domain.days_left(NOW + timedelta(days=89, hours=12), NOW) == 90
    assert domain.days_left(NOW + timedelta(days=30), NOW) == 30
    assert domain.days_left(NOW - timedelta(days=1), NOW) == 0


def test_a_valid_certificate_blocks_a_new_application_unless_within_180_days():
    assert domain.blocks_new_application("active", NOW + timedelta(days=181), NOW)
    assert not domain.blocks_new_application("active", NOW + timedelta(days=180), NOW)
    assert not domain.blocks_new_application("revoked", NOW + timedelta(days=900), NOW)
    assert domain.blocks_new_application("suspended", NOW + timedelta(days=900), NOW)
    assert not domain.blocks_new_application("active", NOW - timedelta(days=1), NOW)
