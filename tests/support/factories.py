"""Records a test needs, in one place: a member's registration data (and a member
made through RPC), a member record as members sends it, schemes, assessors,
sessions and events. Every value that must be unique is unique per call, so tests
never meet each other's data."""
import itertools
import uuid
from datetime import datetime, timedelta, timezone

_numbers = itertools.count(1)


def tag():
    """A short unique text, upper case (scheme codes take it as it is)."""
    return uuid.uuid4().hex[:8].upper()


def in_days(days, start=None):
    """An ISO time ``days`` from now (or from ``start``), with its offset."""
    return ((start or datetime.now(timezone.utc)) + timedelta(days=days)).isoformat()


# -- members ------------------------------------------------------------------------

def new_phone():
    """``(local, E.164)``: a mobile number no other test uses, as a member types it
    and as the SMS gateway receives it."""
    digits = f"{uuid.uuid4().int % 10**8:08d}"
    return f"0812-{digits[:4]}-{digits[4:]}", f"+62812{digits}"


def member_data(**overrides):
    """Good registration data for a new member (unique name, email and phone)."""
    data = {
        "full_name": f"Rahmawati Putri {next(_numbers)}",
        "email": f"rahma.{uuid.uuid4().hex[:10]}@example.id",
        "phone": new_phone()[0],
        "city": "Balikpapan",
        "subsector": "kuliner",
    }
    data.update(overrides)
    return data


def make_member(rpc, activate=True, **overrides):
    """A member registered through RPC (and activated, unless ``activate=False``)."""
    member = rpc.members.register(member_data(**overrides))
    return rpc.members.activate(member["id"]) if activate else member


def member_record(status="active", **overrides):
    """A member record as the members service sends it, for feeding a service's
    member view without a members service."""
    now = datetime.now(timezone.utc).isoformat()
    suffix = uuid.uuid4().hex[:8]
    record = {"id": str(uuid.uuid4()), "member_number": None,
              "full_name": f"Anggota {suffix}", "email": f"anggota.{suffix}@example.id",
              "phone": "0812-5400-7788", "city": "Balikpapan", "province": "Kalimantan Timur",
              "subsector": "kuliner", "business_name": None, "nib": None, "locale": "id",
              "status": status, "active_since": None, "valid_until": None,
              "created_at": now, "updated_at": now}
    record.update(overrides)
    return record


# -- certification --------------------------------------------------------------------

def scheme_data(**overrides):
    data = {
        "code": f"DKV-{tag()}",
        "title": "Desainer Grafis Muda",
        "subsector": "desain_komunikasi_visual",
        "skkni_ref": "SKKNI No. 126 Tahun 2019",
        "units": [{"code": "J.74DKV00.001.1", "title": "Menerapkan prinsip desain"},
                  {"code": "J.74DKV00.002.1", "title": "Membuat tata letak"}],
    }
    data.update(overrides)
    return data


def assessor_data(scheme_codes, **overrides):
    data = {"full_name": "Asesor Kompetensi", "email": f"asesor.{tag().lower()}@example.id",
            "registration_number": f"MET.000.{tag()}", "scheme_codes": scheme_codes}
    data.update(overrides)
    return data


def session_data(scheme, assessors, capacity=10, **overrides):
    data = {"scheme_code": scheme["code"], "venue": "TUK Balikpapan, Jl. Jend. Sudirman",
            "starts_at": in_days(14), "capacity": capacity,
            "assessor_ids": [a["id"] for a in assessors]}
    data.update(overrides)
    return data


def make_scheme(rpc, **overrides):
    return rpc.certification.create_scheme(scheme_data(**overrides))


def make_assessor(rpc, scheme_codes, **overrides):
    return rpc.certification.register_assessor(assessor_data(scheme_codes, **overrides))


def make_session(rpc, scheme, assessors, capacity=10, **overrides):
    return rpc.certification.schedule_session(
        session_data(scheme, assessors, capacity, **overrides))


def all_competent(scheme, competent=True):
    return [{"unit_code": unit["code"], "competent": competent} for unit in scheme["units"]]


def issue_certificate(rpc, scheme, assessor, session, **member_fields):
    """A new active member, assessed Kompeten: (member, certificate)."""
    member = make_member(rpc, **member_fields)
    application = rpc.certification.apply(
        {"member_id": member["id"], "scheme_code": scheme["code"], "session_id": session["id"]})
    result = rpc.certification.record_result(
        application["id"], {"assessor_id": assessor["id"], "units": all_competent(scheme)})
    return member, result["certificate"]


# -- events ----------------------------------------------------------------------------

def event_data(**overrides):
    data = {"title": "Dialog Publik Ekonomi Kreatif", "kind": "public_dialog",
            "venue": "Balikpapan Sport and Convention Center", "city": "Balikpapan",
            "starts_at": in_days(10), "ends_at": in_days(10.2), "capacity": 10}
    data.update(overrides)
    return data


def make_event(rpc, publish=True, **overrides):
    event = rpc.events.create_event(event_data(**overrides))
    return rpc.events.publish_event(event["id"]) if publish else event
