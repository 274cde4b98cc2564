"""Certification's use cases in-process: bad input to schemes, assessors, sessions and
applications; apply's refusals and what they leave behind (no seat taken, no
message); the member view deciding when members does not answer; lists. A test
sees only its own rows, so every count and list is exact."""
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.certification.models import Certificate
from services.certification.service import CertificationService
from services.certification.signing import Signer
from shared.envelope import make_envelope
from shared.errors import Conflict, Forbidden, NotFound, ValidationError
from shared.rpc import ServiceTimeout
from tests.support.factories import (
    all_competent,
    assessor_data,
    in_days,
    member_record,
    scheme_data,
    session_data,
)
from tests.support.usecases import InWorker, MembersStub


@pytest.fixture
def certification(session_of):
    return InWorker(CertificationService, session_of("certification"), members=MembersStub(),
                    signer=Signer(Ed25519PrivateKey.generate()),
                    settings=SimpleNamespace(PUBLIC_BASE_URL="https://sertifikat.test"))


@pytest.fixture
def members(certification):
    return certification.service.members


@pytest.fixture
def setting(certification):
    """``(scheme, assessor, session)`` with ten seats, fourteen days ahead."""
    scheme = certification.create_scheme(scheme_data())
    assessor = certification.register_assessor(assessor_data([scheme["code"]]))
    session = certification.schedule_session(session_data(scheme, [assessor]))
    return scheme, assessor, session


def application_for(member, scheme, session, **changes):
    return {"member_id": member["id"], "scheme_code": scheme["code"],
            "session_id": session["id"], **changes}


def refused(call, error_type, *args):
    """The error ``call(*args)`` raised, which must be an ``error_type``."""
    with pytest.raises(error_type) as raised:
        call(*args)
    return raised.value


def names(error, field):
    """Whether a ValidationError names ``field`` or a part of it (``units.0``)."""
    return any(key == field or key.startswith(field + ".") for key in error.errors)


# -- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    ({"code": "dkv-junior"}, "code"), ({"code": "X"}, "code"), ({"subsector": "sulap"}, "subsector"),
    ({"units": []}, "units"), ({"units": [{"code": "A", "title": "Satu"}] * 2}, "units"),
    ({"units": [{"code": "A"}]}, "units.0"), ({"validity_months": 0}, "validity_months"),
    ({"validity_months": 121}, "validity_months"), ({"validity_months": True}, "validity_months"),
    ({"requires_training": "yes"}, "requires_training"), ({"title": "x" * 100_000}, "title"),
    ({"owner": "me"}, "owner"), ({"skkni_ref": None}, "skkni_ref"),
    ({"units": [{"title": "No code"}]}, "units"), ({"units": ["U1"]}, "units"),
    ({"units": [{"code": 5, "title": "Numeric code"}]}, "units"),
    ({"units": [{"code": "U", "title": "Unit"}] * 5_000}, "units"),
])
def test_create_scheme_rejects_bad_input_and_writes_nothing(certification, change, field):
    data = {**scheme_data(), **change}
    error = refused(certification.create_scheme, ValidationError, data)
    assert names(error, field), error.errors
    assert certification.list_schemes()["items"] == []
    assert certification.outbox.messages == []


@pytest.mark.parametrize("change, field", [
    ({"scheme_codes": []}, "scheme_codes"), ({"scheme_codes": ["NOPE-1"]}, "scheme_codes"),
    ({"member_id": "x"}, "member_id"), ({"email": "nope"}, "email"), ({"extra": 1}, "extra"),
])
def test_register_assessor_rejects_bad_input_and_writes_nothing(certification, setting, change,
                                                                field):
    scheme, assessor, _ = setting
    error = refused(certification.register_assessor, ValidationError,
                    {**assessor_data([scheme["code"]]), **change})
    assert names(error, field), error.errors
    assert certification.list_assessors()["items"] == [assessor]


@pytest.mark.parametrize("change, field", [
    ({"starts_at": "2020-01-01T00:00:00+00:00"}, "starts_at"), ({"starts_at": "soon"}, "starts_at"),
    ({"starts_at": "2099-01-01T09:00:00"}, "starts_at"),  # no offset: WITA or UTC?
    ({"capacity": 0}, "capacity"), ({"capacity": 501}, "capacity"), ({"capacity": "5"}, "capacity"),
    ({"assessor_ids": []}, "assessor_ids"), ({"assessor_ids": ["nope"]}, "assessor_ids"),
    ({"assessor_ids": [str(uuid.uuid4())]}, "assessor_ids"),
    ({"scheme_code": "NOPE-1"}, "scheme_code"), ({"venue": ""}, "venue"),
])
def test_schedule_session_rejects_bad_input_and_writes_nothing(certification, setting, change,
                                                               field):
    scheme, assessor, session = setting
    error = refused(certification.schedule_session, ValidationError,
                    {**session_data(scheme, [assessor]), **change})
    assert names(error, field), error.errors
    assert certification.list_sessions()["items"] == [session]


def test_a_session_needs_assessors_qualified_for_its_scheme(certification, setting):
    scheme, assessor, session = setting
    other_scheme = certification.create_scheme(scheme_data())
    unqualified = certification.register_assessor(assessor_data([other_scheme["code"]]))
    error = refused(certification.schedule_session, ValidationError,
                    session_data(scheme, [assessor, unqualified]))
    assert error.errors == {"assessor_ids": [
        f"Assessor {unqualified['id']} is not qualified for {scheme['code']}."]}
    assert certification.list_sessions()["items"] == [session]


@pytest.mark.parametrize("change, field", [
    ({"member_id": "nope"}, "member_id"), ({"session_id": 7}, "session_id"),
    ({"scheme_code": "NOPE-1"}, "scheme_code"), ({"grade": "A"}, "grade"),
    ({"self_assessment": [{"unit_code": "NOT-A-UNIT", "competent_claim": True}]},
     "self_assessment"),
    ({"self_assessment": [{"unit_code": "J.74DKV00.001.1", "competent_claim": True}] * 2},
     "self_assessment"),
    ({"self_assessment": [{"unit_code": "J.74DKV00.001.1", "competent_claim": "ya"}]},
     "self_assessment"),
])
def test_apply_rejects_bad_input_and_takes_no_seat(certification, members, setting, change,
                                                   field):
    scheme, _, session = setting
    member = members.add(member_record("active"))
    error = refused(certification.apply, ValidationError,
                    application_for(member, scheme, session, **change))
    assert names(error, field), error.errors
    assert certification.get_session(session["id"])["seats_taken"] == 0
    assert certification.outbox.messages == []


# -- apply's refusals --------------------------------------------------------------------

def test_only_an_active_member_may_apply(certification, members, setting):
    scheme, _, session = setting
    for status in ("pending", "suspended", "lapsed"):
        member = members.add(member_record(status))
        error = refused(certification.apply, Forbidden, application_for(member, scheme, session))
        assert str(error) == f"member is {status}, not active"
    error = refused(certification.apply, NotFound,
                    application_for(member_record(), scheme, session))
    assert str(error).startswith("no member ")
    assert certification.get_session(session["id"])["seats_taken"] == 0
    assert certification.list_applications()["items"] == []
    assert certification.outbox.messages == []


def test_apply_refusals_take_no_seat_and_record_nothing(certification, members, setting):
    scheme, assessor, session = setting
    member = members.add(member_record())
    other_scheme = certification.create_scheme(scheme_data())
    other_session = certification.schedule_session(session_data(
        other_scheme, [certification.register_assessor(assessor_data([other_scheme["code"]]))]))
    refused(certification.apply, Conflict,
            application_for(member, scheme, other_session))  # the session is for another scheme
    refused(certification.apply, NotFound,
            application_for(member, scheme, {"id": str(uuid.uuid4())}))

    first = certification.apply(application_for(member, scheme, session))
    error = refused(certification.apply, Conflict, application_for(member, scheme, session))
    assert str(error) == "the member has an open application for this scheme"

    full = certification.schedule_session(session_data(scheme, [assessor], capacity=1))
    certification.apply(application_for(members.add(member_record()), scheme, full))
    error = refused(certification.apply, Conflict,
                    application_for(members.add(member_record()), scheme, full))
    assert str(error) == "the session is full"

    assert [a["id"] for a in certification.list_applications({"session_id": session["id"]})[
        "items"]] == [first["id"]]
    assert certification.get_session(session["id"])["seats_taken"] == 1
    assert certification.get_session(full["id"])["seats_taken"] == 1
    assert certification.outbox.types() == ["application_submitted"] * 2


def test_a_scheme_that_needs_training_refuses_until_it_is_attended(certification, members):
    scheme = certification.create_scheme(scheme_data(requires_training=True))
    assessor = certification.register_assessor(assessor_data([scheme["code"]]))
    session = certification.schedule_session(session_data(scheme, [assessor]))
    member = members.add(member_record())
    error = refused(certification.apply, Forbidden, application_for(member, scheme, session))
    assert "requires a training" in str(error)
    certification.on_attendance_recorded(make_envelope("events", "attendance_recorded", {
        "member_id": member["id"], "event_id": str(uuid.uuid4()), "kind": "training",
        "scheme_code": scheme["code"], "checked_in_at": in_days(-1)}))
    assert certification.apply(application_for(member, scheme, session))["status"] == "submitted"


def test_a_valid_certificate_blocks_a_new_application_until_180_days_before_expiry(
        certification, members, setting):
    scheme, assessor, session = setting
    member = members.add(member_record())
    application = certification.apply(application_for(member, scheme, session))
    certificate = certification.record_result(application["id"], {
        "assessor_id": assessor["id"], "units": all_competent(scheme)})["certificate"]
    later = certification.schedule_session(session_data(scheme, [assessor]))
    error = refused(certification.apply, Conflict, application_for(member, scheme, later))
    assert certificate["number"] in str(error)

    stored = certification.session.get(Certificate, certificate["number"])
    stored.valid_until = datetime.now(timezone.utc) + timedelta(days=179)
    certification.session.flush()
    assert certification.apply(application_for(member, scheme, later))["status"] == "submitted"


def test_a_suspended_certificate_still_blocks_a_new_application(certification, members, setting):
    scheme, assessor, session = setting
    member = members.add(member_record())
    application = certification.apply(application_for(member, scheme, session))
    certificate = certification.record_result(application["id"], {
        "assessor_id": assessor["id"], "units": all_competent(scheme)})["certificate"]
    certification.suspend_certificate(certificate["number"], "Audit")
    later = certification.schedule_session(session_data(scheme, [assessor]))
    refused(certification.apply, Conflict, application_for(member, scheme, later))


# -- the member view when members does not answer ---------------------------------------

def test_without_members_the_view_decides_for_the_members_it_knows(certification, members,
                                                                  setting):
    scheme, _, session = setting
    suspended, active = member_record("suspended"), member_record("active")
    for record in (suspended, active):
        # The view, fed by members' messages (each record's status as it is).
        certification.on_member_activated(make_envelope("members", "member_activated", record))
    members.answering = False

    unknown = member_record()
    refused(certification.apply, ServiceTimeout, application_for(unknown, scheme, session))
    error = refused(certification.apply, Forbidden, application_for(suspended, scheme, session))
    assert str(error) == "member is suspended, not active"
    assert members.asked == [unknown["id"], suspended["id"]]  # the active one is trusted
    assert certification.apply(application_for(active, scheme, session))["status"] == "submitted"
    assert certification.get_session(session["id"])["seats_taken"] == 1
    assert certification.outbox.types() == ["application_submitted"]


def test_a_view_that_would_refuse_is_checked_with_members_first(certification, members, setting):
    """The view may be behind: suspended there, reinstated since at members."""
    scheme, _, session = setting
    record = member_record("suspended")
    certification.on_member_suspended(make_envelope("members", "member_suspended", record))
    members.add({**record, "status": "active", "updated_at": in_days(0)})
    assert certification.apply(application_for(record, scheme, session))["status"] == "submitted"
    assert members.asked == [record["id"]]


# -- lists ---------------------------------------------------------------------------------

def test_lists_filter_and_page_exactly(certification, members, setting):
    scheme, assessor, session = setting
    later = certification.schedule_session(session_data(scheme, [assessor], starts_at=in_days(30)))
    sooner = certification.schedule_session(session_data(scheme, [assessor], starts_at=in_days(5)))
    assert [s["id"] for s in certification.list_sessions({"scheme_code": scheme["code"]})[
        "items"]] == [sooner["id"], session["id"], later["id"]]

    applications = [certification.apply(application_for(members.add(member_record()), scheme,
                                                         session)) for _ in range(5)]
    first = certification.list_applications({"limit": 2})
    second = certification.list_applications({"limit": 2, "cursor": first["next_cursor"]})
    third = certification.list_applications({"limit": 2, "cursor": second["next_cursor"]})
    assert third["next_cursor"] is None
    assert [a["id"] for page in (first, second, third) for a in page["items"]] == \
        [a["id"] for a in applications]
    one = applications[2]
    assert certification.list_applications({"member_id": one["member_id"]})["items"] == [one]
    assert certification.list_applications({"status": "competent"})["items"] == []
    assert [a["id"] for a in certification.list_applications(
        {"session_id": session["id"], "status": "submitted"})["items"]] == \
        [a["id"] for a in applications]
    assert names(refused(certification.list_applications, ValidationError, {"status": "x"}),
                 "status")

    decided = certification.record_result(one["id"], {
        "assessor_id": assessor["id"], "units": all_competent(scheme)})
    certificate = decided["certificate"]
    assert certification.list_certificates({"member_id": one["member_id"]})["items"] == \
        [certificate]
    assert certification.list_certificates({"status": "revoked"})["items"] == []
    assert certification.list_certificates(
        {"scheme_code": scheme["code"], "status": "active"})["items"] == [certificate]
    assert [a["id"] for a in certification.list_applications({"status": "competent"})[
        "items"]] == [one["id"]]
    assert certification.list_assessors({"scheme_code": scheme["code"]})["items"] == [assessor]
    assert certification.list_schemes()["items"] == [certification.get_scheme(scheme["code"])]
