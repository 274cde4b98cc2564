"""Realistic data of every message notifications reacts to, as its producer publishes
it: ``sample(source, event_type, **changes)``. ``validate`` checks a message's data
against the producer's schema in the message catalog (shared.catalog), so these
samples cannot drift from what producers send."""
import functools
import uuid

from shared.catalog import build_document, payload_validator
from shared.envelope import make_envelope

MEMBER_ID = str(uuid.uuid4())
MEMBER = {"id": MEMBER_ID, "member_number": "EKRAF-2026-000001",
          "full_name": "Siti Rahmawati", "email": "siti@example.id", "phone": "+6281254011001",
          "city": "Balikpapan", "province": "Kalimantan Timur", "subsector": "kuliner",
          "business_name": None, "nib": None, "locale": "id", "status": "active",
          "active_since": "2026-11-28T03:00:00+00:00", "valid_until": "2027-11-28T03:00:00+00:00",
          "created_at": "2026-11-28T03:00:00+00:00", "updated_at": "2026-11-28T03:00:00+00:00"}
APPLICATION = {"id": str(uuid.uuid4()), "member_id": MEMBER_ID, "scheme_code": "DKV-MUDA",
               "session_id": str(uuid.uuid4()), "status": "submitted", "self_assessment": None,
               "result": None, "created_at": "2026-11-28T03:00:00+00:00", "decided_at": None,
               "scheme_title": "Desainer Grafis Muda", "venue": "TUK Balikpapan",
               "starts_at": "2026-12-12T01:00:00+00:00"}
CERTIFICATE = {"number": "CRT-2026-7KQ2-M9XD-4FJA", "member_id": MEMBER_ID,
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
REGISTRATION = {"id": str(uuid.uuid4()), "event_id": EVENT["id"], "member_id": MEMBER_ID,
                "status": "confirmed", "position": None,
                "registered_at": "2026-11-28T03:00:00+00:00", "checked_in_at": None,
                "event_title": "Dialog Publik", "kind": "public_dialog", "scheme_code": None,
                "starts_at": EVENT["starts_at"], "venue": "BSCC", "city": "Balikpapan"}

SAMPLES = {
    "members.member_registered": {**MEMBER, "status": "pending", "member_number": None,
                                  "active_since": None, "valid_until": None},
    "members.member_activated": MEMBER,
    "members.member_suspended": {**MEMBER, "status": "suspended",
                                 "reason": "Iuran belum dibayar"},
    "members.member_lapsed": {**MEMBER, "status": "lapsed"},
    "certification.application_submitted": APPLICATION,
    "certification.assessment_completed": {
        **APPLICATION, "status": "competent", "outcome": "competent",
        "decided_at": "2026-12-12T08:00:00+00:00",
        "result": {"assessor_id": str(uuid.uuid4()), "notes": None,
                   "units": [{"unit_code": "M.74100.001.01", "competent": True}]}},
    "certification.certificate_issued": CERTIFICATE,
    "certification.certificate_expiring": {**CERTIFICATE, "days_left": 30, "reminder": 30},
    "certification.certificate_suspended": {**CERTIFICATE, "status": "suspended",
                                            "reason": "Audit"},
    "certification.certificate_revoked": {**CERTIFICATE, "status": "revoked",
                                          "reason": "Pemalsuan dokumen"},
    "certification.certificate_expired": {**CERTIFICATE, "status": "expired"},
    "events.event_published": EVENT,
    "events.event_cancelled": {**EVENT, "status": "cancelled", "member_ids": [MEMBER_ID],
                               "reason": "Hujan"},
    "events.registration_confirmed": REGISTRATION,
    "events.registration_waitlisted": {**REGISTRATION, "status": "waitlisted", "position": 3},
    "events.registration_promoted": REGISTRATION,
}


def sample(source, event_type, **changes):
    """The data of a ``source.event_type`` message, with ``changes``."""
    return {**SAMPLES[f"{source}.{event_type}"], **changes}


@functools.lru_cache(maxsize=None)
def _validator(event_type):
    return payload_validator(_document(), event_type)


@functools.lru_cache(maxsize=None)
def _document():
    return build_document()


def validate(source, event_type, data):
    """Raise ``jsonschema.ValidationError`` unless the producer could send ``data``."""
    _validator(event_type).validate(make_envelope(source, event_type, data))
    return data
