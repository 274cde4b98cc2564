"""Building blocks for certification tests: a scheme, an assessor, a session, a member."""
import uuid
from datetime import datetime, timedelta, timezone


def tag():
    return uuid.uuid4().hex[:8].upper()


def make_scheme(rpc, **overrides):
    data = {
        "code": f"DKV-{tag()}",
        "title": "Desainer Grafis Muda",
        "subsector": "desain_komunikasi_visual",
        "skkni_ref": "SKKNI No. 126 Tahun 2019",
        "units": [{"code": "J.74DKV00.001.1", "title": "Menerapkan prinsip desain"},
                  {"code": "J.74DKV00.002.1", "title": "Membuat tata letak"}],
    }
    data.update(overrides)
    return rpc.certification.create_scheme(data)


def make_assessor(rpc, scheme_codes, **overrides):
    data = {"full_name": "Asesor Kompetensi", "email": f"asesor.{tag().lower()}@example.id",
            "registration_number": f"MET.000.{tag()}", "scheme_codes": scheme_codes}
    data.update(overrides)
    return rpc.certification.register_assessor(data)


def in_days(days):
    return (datetime.now(timezone.utc) + timedelta(days=days)).isoformat()


def make_session(rpc, scheme, assessors, capacity=10, **overrides):
    data = {"scheme_code": scheme["code"], "venue": "TUK Balikpapan, Jl. Jend. Sudirman",
            "starts_at": in_days(14), "capacity": capacity,
            "assessor_ids": [a["id"] for a in assessors]}
    data.update(overrides)
    return rpc.certification.schedule_session(data)


def make_member(rpc, activate=True, **overrides):
    data = {"full_name": f"Peserta Uji {tag()}", "email": f"peserta.{tag().lower()}@example.id",
            "phone": "0812-5400-7788", "city": "Balikpapan", "subsector": "desain_komunikasi_visual"}
    data.update(overrides)
    member = rpc.members.register(data)
    return rpc.members.activate(member["id"]) if activate else member


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


