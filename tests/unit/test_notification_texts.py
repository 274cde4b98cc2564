"""The notification texts and who they go to, with no I/O."""
import uuid

import pytest

from services.notifications import domain
from shared.envelope import MalformedMessage

MEMBER = {"id": str(uuid.uuid4()), "member_number": "EKRAF-2026-000001",
          "full_name": "Siti Rahmawati", "email": "siti@example.id", "phone": "+6281254011001",
          "city": "Balikpapan", "province": "Kalimantan Timur", "subsector": "kuliner",
          "business_name": None, "nib": None, "locale": "id", "status": "active",
          "active_since": "2026-11-28T03:00:00+00:00", "valid_until": "2027-11-28T03:00:00+00:00",
          "created_at": "2026-11-28T03:00:00+00:00", "updated_at": "2026-11-28T03:00:00+00:00"}
APPLICATION = {"id": str(uuid.uuid4()), "member_id": MEMBER["id"], "scheme_code": "DKV-MUDA",
               "session_id": str(uuid.uuid4()), "status": "submitted", "self_assessment": None,
               "result": None, "created_at": "2026-11-28T03:00:00+00:00", "decided_at": None,
               "scheme_title": "Desainer Grafis Muda", "venue": "TUK Balikpapan",
               "starts_at": "2026-12-12T01:00:00+00:00"}
CERTIFICATE = {"number": "CRT-2026-7KQ2-M9XD-4FJA", "member_id": MEMBER["id"],
               "holder_name": "Siti Rahmawati", "scheme_code": "DKV-MUDA",
               "scheme_title": "Desainer Grafis Muda", "status": "active",
               "issued_at": "2026-11-28T03:00:00+00:00", "valid_until": "2029-11-28T03:00:00+00:00",
               "verify_url": "https://example.test/certificates/CRT-2026-7KQ2-M9XD-4FJA"}
EVENT = {"id": str(uuid.uuid4()), "title": "Dialog Publik", "kind": "public_dialog",
         "description": None, "venue": "BSCC", "city": "Balikpapan",
         "starts_at": "2026-12-05T01:00:00+00:00", "ends_at": "2026-12-05T04:00:00+00:00",
         "capacity": 100, "registration_closes_at": "2026-12-05T01:00:00+00:00",
         "members_only": False, "subsectors": [], "scheme_code": None, "status": "published",
         "confirmed_count": 0, "waitlist_count": 0, "created_at": "2026-11-28T03:00:00+00:00"}
REGISTRATION = {"id": str(uuid.uuid4()), "event_id": EVENT["id"], "member_id": MEMBER["id"],
                "status": "waitlisted", "position": 3, "registered_at": "2026-11-28T03:00:00+00:00",
                "checked_in_at": None, "event_title": "Dialog Publik", "kind": "public_dialog",
                "scheme_code": None, "starts_at": EVENT["starts_at"], "venue": "BSCC",
                "city": "Balikpapan"}

# Data shaped as docs/contract.md says each message is.
SAMPLES = {
    "members": {**MEMBER, "reason": "Iuran belum dibayar"},
    "certification.application_submitted": APPLICATION,
    "certification.assessment_completed": {**APPLICATION, "outcome": "competent"},
    "certification.certificate_expiring": {**CERTIFICATE, "days_left": 30, "reminder": 30},
    "certification": {**CERTIFICATE, "reason": "Audit"},
    "events.event_cancelled": {**EVENT, "member_ids": [MEMBER["id"]], "reason": "Hujan"},
    "events.event_published": EVENT,
    "events": REGISTRATION,
}


def sample(source, event_type):
    return SAMPLES.get(f"{source}.{event_type}", SAMPLES.get(source))


@pytest.mark.parametrize("locale", ["id", "en"])
@pytest.mark.parametrize("source, event_type", domain.catalog())
def test_every_template_renders_from_contract_shaped_data(source, event_type, locale):
    text, used = domain.template_text(source, event_type, locale)
    assert used == locale  # every message type exists in both languages
    subject, body = domain.render(text, domain.template_values(
        sample(source, event_type), "Siti Rahmawati", locale))
    assert subject and body and "$" not in subject + body
    assert "Siti Rahmawati" in body


def test_the_catalogue_covers_what_the_contract_requires():
    required = {("members", t) for t in ("member_registered", "member_activated",
                                         "member_suspended", "member_lapsed")} | \
        {("certification", t) for t in ("application_submitted", "assessment_completed",
                                        "certificate_issued", "certificate_expiring",
                                        "certificate_suspended", "certificate_revoked",
                                        "certificate_expired")} | \
        {("events", t) for t in ("registration_confirmed", "registration_waitlisted",
                                 "registration_promoted", "event_cancelled", "event_published")}
    assert required <= set(domain.catalog())


def test_a_missing_field_is_a_malformed_message_not_a_placeholder_in_the_text():
    text, _ = domain.template_text("events", "registration_confirmed", "id")
    data = {k: v for k, v in REGISTRATION.items() if k != "venue"}
    with pytest.raises(MalformedMessage, match="venue"):
        domain.render(text, domain.template_values(data, "Siti", "id"))


def test_injection_in_data_is_inserted_as_text():
    text, _ = domain.template_text("members", "member_suspended", "en")
    _, body = domain.render(text, domain.template_values(
        {**MEMBER, "reason": "${full_name} {{7*7}} $member_number"}, "Siti", "en"))
    assert "${full_name} {{7*7}} $member_number" in body


def test_dates_in_east_kalimantan_time_and_the_members_language():
    assert domain.format_date("2026-11-28T17:00:00+00:00", "id") == "29 November 2026"
    assert domain.format_date_time("2026-12-05T01:00:00+00:00", "en") == \
        "5 December 2026, 09:00 WITA"


def test_recipients():
    member_id = MEMBER["id"]
    assert domain.recipients("members", "member_activated", MEMBER) == [member_id]
    assert domain.recipients("events", "event_cancelled", {
        "member_ids": [member_id, member_id.upper(), "not-an-id", None]}) == [member_id]
    assert domain.recipients("certification", "certificate_issued", CERTIFICATE) == [member_id]
    assert domain.recipients("events", "event_published", EVENT) is None
    assert domain.recipients("certification", "certificate_issued", {"member_id": 7}) == []


@pytest.mark.parametrize("status, city, subsector, wants, event, expected", [
    ("active", "balikpapan", "kuliner", True, {"city": "Balikpapan", "subsectors": []}, True),
    ("active", "Balikpapan", "kuliner", True, {"city": "Balikpapan", "subsectors": ["musik"]},
     False),
    ("pending", "Balikpapan", "kuliner", True, {"city": "Balikpapan", "subsectors": []}, False),
    ("active", "Samarinda", "kuliner", True, {"city": "Balikpapan", "subsectors": []}, False),
    ("active", "Balikpapan", "kuliner", False, {"city": "Balikpapan", "subsectors": []}, False),
])
def test_who_hears_of_a_new_event(status, city, subsector, wants, event, expected):
    assert domain.wants_announcement(status, city, subsector, wants, event) is expected


def test_channels_and_backoff():
    prefs = {"email": True, "sms": False}
    assert domain.channels_for(prefs, True, True, True) == ["in_app", "email"]
    assert domain.channels_for({"email": True, "sms": True}, True, True, False) == \
        ["in_app", "email"]
    assert [domain.next_attempt_delay(n, [5, 30, 120]) for n in (1, 2, 3, 4)] == \
        [5, 30, 120, None]
