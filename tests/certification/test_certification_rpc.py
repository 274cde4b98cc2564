"""Every certification method through a real RPC client, against the real broker
and database, with members running beside it and an outside subscriber listening."""
import time
import uuid
from datetime import datetime, timedelta, timezone

import eventlet
import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcProxy

from tests.support.broker import publish_as
from tests.support.calls import names_field, outcome_of, remote_error, validation_fields
from tests.support.factories import (
    all_competent,
    in_days,
    make_assessor,
    make_member,
    make_scheme,
    make_session,
    tag,
)
from tests.support.member_view import times_skipped_as_applied
from tests.support.waiting import wait_until
from tests.support.identities import admin_context

CERTIFICATE_MESSAGE_FIELDS = {"number", "member_id", "holder_name", "scheme_code",
                              "scheme_title", "status", "issued_at", "valid_until"}


def handled(service, envelope, handler):
    """Whether ``service`` (a ServiceProcess) has handled this message: its ``ekraf.calls``
    line for ``handler`` and the message's event_id, outcome ok."""
    import json

    return any(line.startswith("{") and (entry := json.loads(line))["logger"] == "ekraf.calls"
               and entry["event_id"] == envelope["event_id"] and entry["outcome"] == "ok"
               and entry["message"].startswith(f"message {handler} ")
               for line in service.log().splitlines())


def parse_time(value):
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0)
    return parsed


def certify(crpc, scheme, assessor, assessment, member=None):
    member = member or make_member(crpc)
    application = crpc.certification.apply(
        {"member_id": member["id"], "scheme_code": scheme["code"], "session_id": assessment["id"]})
    result = crpc.certification.record_result(
        application["id"], {"assessor_id": assessor["id"], "units": all_competent(scheme)})
    return member, application, result["certificate"]


# -- schemes ---------------------------------------------------------------------------

def test_create_get_and_list_schemes(crpc):
    scheme = make_scheme(crpc, subsector="kriya", requires_training=True, validity_months=24)
    assert scheme["requires_training"] is True and scheme["validity_months"] == 24
    assert crpc.certification.get_scheme(scheme["code"]) == scheme
    default = make_scheme(crpc)
    assert default["validity_months"] == 36 and default["requires_training"] is False
    assert set(default) == {"code", "title", "subsector", "skkni_ref", "units",
                            "validity_months", "requires_training"}
    kriya = crpc.certification.list_schemes({"subsector": "kriya", "limit": 200})["items"]
    assert scheme in kriya and default not in kriya
    first = crpc.certification.list_schemes({"limit": 1})
    second = crpc.certification.list_schemes({"limit": 1, "cursor": first["next_cursor"]})
    assert first["items"][0]["code"] < second["items"][0]["code"]


def test_scheme_codes_are_unique(crpc, scheme):
    assert remote_error(crpc.certification.create_scheme, {
        **{k: scheme[k] for k in ("code", "title", "subsector", "skkni_ref", "units")}
    }).exc_type == "Conflict"


def test_a_huge_list_is_refused_quickly(crpc):
    started = time.monotonic()
    validation_fields(crpc.certification.create_scheme, {
        "code": f"DKV-{tag()}", "title": "Desainer", "subsector": "kuliner",
        "skkni_ref": "SKKNI", "units": [{"code": "U", "title": "Unit"}] * 200_000})
    assert time.monotonic() - started < 3


def test_get_scheme_errors(crpc):
    assert names_field(validation_fields(crpc.certification.get_scheme, "not a code!"), "code")
    assert remote_error(crpc.certification.get_scheme, "NO-SUCH-SCHEME").exc_type == "NotFound"


# -- assessors and sessions ---------------------------------------------------------------

def test_register_assessor(crpc, scheme):
    member = make_member(crpc)
    assessor = make_assessor(crpc, [scheme["code"]], member_id=member["id"])
    assert assessor["scheme_codes"] == [scheme["code"]] and assessor["member_id"] == member["id"]
    assert set(assessor) == {"id", "full_name", "email", "registration_number",
                             "scheme_codes", "member_id"}
    assert remote_error(crpc.certification.register_assessor, {
        "full_name": "Lain", "email": "lain@example.id",
        "registration_number": assessor["registration_number"], "scheme_codes": [scheme["code"]],
    }).exc_type == "Conflict"


def test_assessors_can_be_read_and_listed_by_scheme(crpc, scheme):
    first = make_assessor(crpc, [scheme["code"]])
    second = make_assessor(crpc, [scheme["code"], make_scheme(crpc)["code"]])
    make_assessor(crpc, [make_scheme(crpc)["code"]])  # another scheme only
    assert crpc.certification.get_assessor(first["id"]) == first
    page = crpc.certification.list_assessors({"scheme_code": scheme["code"], "limit": 1})
    assert page["items"] == [first] and page["next_cursor"]
    rest = crpc.certification.list_assessors(
        {"scheme_code": scheme["code"], "cursor": page["next_cursor"]})
    assert rest == {"items": [second], "next_cursor": None}
    assert remote_error(crpc.certification.get_assessor, str(uuid.uuid4())).exc_type == "NotFound"


def test_an_assessor_linked_to_a_member_must_name_a_real_member(crpc, scheme):
    assert remote_error(crpc.certification.register_assessor, {
        "full_name": "Asesor", "email": "a@example.id", "registration_number": f"R-{tag()}",
        "scheme_codes": [scheme["code"]], "member_id": str(uuid.uuid4())}).exc_type == "NotFound"


def test_schedule_session(crpc, scheme, assessor):
    assessment = make_session(crpc, scheme, [assessor], capacity=25)
    assert assessment["seats_taken"] == 0 and assessment["capacity"] == 25
    assert assessment["assessor_ids"] == [assessor["id"]]
    assert set(assessment) == {"id", "scheme_code", "venue", "starts_at", "capacity",
                               "assessor_ids", "seats_taken"}
    parse_time(assessment["starts_at"])
    assert crpc.certification.get_session(assessment["id"]) == assessment


# -- applications --------------------------------------------------------------------------

def member_view_status(certification_db, member_id):
    with certification_db.connect() as connection:
        return connection.execute(sa.text("SELECT status FROM member_views WHERE member_id = :id"),
                                  {"id": member_id}).scalar()


def test_apply_right_after_activation_succeeds(crpc, scheme, assessment, certificate_messages,
                                              certification_db):
    member = make_member(crpc)  # registered and activated: no waiting for messages
    # As if the activation message had not arrived yet: the view says pending.
    # apply must ask members, and keep its answer (as new as the view: it wins).
    wait_until(lambda: member_view_status(certification_db, member["id"]) == "active")
    with certification_db.begin() as connection:
        connection.execute(sa.text("UPDATE member_views SET status = 'pending' "
                                   "WHERE member_id = :id"), {"id": member["id"]})
    application = crpc.certification.apply({
        "member_id": member["id"], "scheme_code": scheme["code"], "session_id": assessment["id"],
        "self_assessment": [{"unit_code": scheme["units"][0]["code"], "competent_claim": True}]})
    assert application["status"] == "submitted" and application["result"] is None
    assert application["decided_at"] is None
    assert set(application) == {"id", "member_id", "scheme_code", "session_id", "status",
                                "self_assessment", "result", "created_at", "decided_at"}
    assert crpc.certification.get_application(application["id"]) == application
    assert crpc.certification.get_session(assessment["id"])["seats_taken"] == 1
    [message] = certificate_messages.wait_for("application_submitted", id=application["id"])
    assert message["data"]["member_id"] == member["id"]
    assert member_view_status(certification_db, member["id"]) == "active"  # refreshed


def test_a_suspended_member_is_refused_once_the_message_arrives(
        crpc, scheme, assessment, certification_db):
    member = make_member(crpc)
    crpc.members.suspend(member["id"], "iuran belum dibayar")
    data = {"member_id": member["id"], "scheme_code": scheme["code"],
            "session_id": assessment["id"]}
    # Certification learns of the suspension from the member_suspended message.
    wait_until(lambda: member_view_status(certification_db, member["id"]) == "suspended")
    assert remote_error(crpc.certification.apply, data).exc_type == "Forbidden"
    crpc.members.reinstate(member["id"])
    assert crpc.certification.apply(data)["status"] == "submitted"


def test_an_older_member_message_never_overwrites_a_newer_one(
        crpc, base_config, scheme, assessment, certification_db, certification_service):
    member = make_member(crpc)
    suspended = crpc.members.suspend(member["id"], "audit")
    data = {"member_id": member["id"], "scheme_code": scheme["code"],
            "session_id": assessment["id"]}
    wait_until(lambda: member_view_status(certification_db, member["id"]) == "suspended")
    # The activation message again, late and twice: the member must stay suspended.
    late = [publish_as(base_config, "members", "member_activated", member) for _ in range(2)]
    wait_until(lambda: all(handled(certification_service, envelope, "on_member_activated")
                           for envelope in late), message="the late copies handled")
    assert member_view_status(certification_db, member["id"]) == "suspended"
    assert remote_error(crpc.certification.apply, data).exc_type == "Forbidden"
    assert suspended["updated_at"] > member["updated_at"]


def test_a_scheme_that_needs_training_waits_for_attendance(
        crpc, base_config, assessor, certification_db, certification_service):
    scheme = make_scheme(crpc, requires_training=True)
    make_assessor(crpc, [scheme["code"]])
    assessment = make_session(crpc, scheme, [make_assessor(crpc, [scheme["code"]])])
    member = make_member(crpc)
    data = {"member_id": member["id"], "scheme_code": scheme["code"],
            "session_id": assessment["id"]}
    assert remote_error(crpc.certification.apply, data).exc_type == "Forbidden"
    attendance = {"id": str(uuid.uuid4()), "event_id": str(uuid.uuid4()),
                  "member_id": member["id"], "status": "attended", "kind": "training",
                  "scheme_code": scheme["code"], "checked_in_at": in_days(-1)}
    workshop = {**attendance, "kind": "workshop", "event_id": str(uuid.uuid4())}
    not_training = publish_as(base_config, "events", "attendance_recorded", workshop)
    wait_until(lambda: handled(certification_service, not_training, "on_attendance_recorded"),
               message="the workshop's attendance handled")
    assert outcome_of(crpc.certification.apply, data) == "Forbidden"
    envelope = publish_as(base_config, "events", "attendance_recorded", attendance)
    publish_as(base_config, "events", "attendance_recorded", attendance, envelope=envelope)
    wait_until(lambda: outcome_of(crpc.certification.apply, data) == "ok", timeout=10)
    [application] = crpc.certification.list_applications({"member_id": member["id"]})["items"]
    assert application["status"] == "submitted"
    # The second copy arrived too, and was recognised and skipped.
    wait_until(lambda: times_skipped_as_applied(certification_service, "on_attendance_recorded",
                                                envelope) == 1, message="the duplicate skipped")
    with certification_db.connect() as connection:
        assert connection.execute(sa.text(
            "SELECT count(*) FROM training_attendance WHERE member_id = :id"),
            {"id": member["id"]}).scalar() == 1


def test_a_repeated_member_message_is_applied_once(
        crpc, base_config, certification_db, certification_service, member_messages):
    member = make_member(crpc)
    crpc.members.suspend(member["id"], "audit")
    [suspension] = member_messages.wait_for("member_suspended", id=member["id"])
    wait_until(lambda: member_view_status(certification_db, member["id"]) == "suspended")
    # Mark the view by hand (same version, so the same message applied again would
    # overwrite it, and no older message can): skipping the copy leaves the mark.
    with certification_db.begin() as connection:
        connection.execute(sa.text("UPDATE member_views SET status = 'marked' "
                                   "WHERE member_id = :id"), {"id": member["id"]})
    publish_as(base_config, "members", "member_suspended", suspension["data"],
               envelope=suspension)
    wait_until(lambda: times_skipped_as_applied(certification_service, "on_member_suspended",
                                                suspension) == 1, message="the duplicate skipped")
    assert member_view_status(certification_db, member["id"]) == "marked"


# -- results and certificates --------------------------------------------------------------

def test_competent_issues_a_signed_certificate_in_the_same_step(
        crpc, scheme, assessor, assessment, certificate_messages):
    member, application, certificate = certify(crpc, scheme, assessor, assessment)
    decided = crpc.certification.get_application(application["id"])
    assert decided["status"] == "competent"
    assert decided["result"]["assessor_id"] == assessor["id"]
    assert decided["result"]["units"] == all_competent(scheme)
    parse_time(decided["decided_at"])
    assert certificate["status"] == "active"
    assert certificate["holder_name"] == member["full_name"]
    assert certificate["scheme_title"] == scheme["title"]
    issued, until = parse_time(certificate["issued_at"]), parse_time(certificate["valid_until"])
    assert until.year == issued.year + 3 and until.month == issued.month  # 36 months
    assert certificate["credential"].count(".") == 2
    assert crpc.certification.get_certificate(certificate["number"]) == certificate
    [completed] = certificate_messages.wait_for("assessment_completed", id=application["id"])
    assert completed["data"]["outcome"] == "competent"
    [issued_message] = certificate_messages.wait_for("certificate_issued",
                                                     number=certificate["number"])
    assert CERTIFICATE_MESSAGE_FIELDS <= set(issued_message["data"])
    assert issued_message["data"]["verify_url"] == (
        f"https://sertifikat.ekraf-kaltim.test/certificates/{certificate['number']}")


def test_not_yet_competent_issues_nothing(crpc, scheme, assessor, assessment, certificate_messages):
    member = make_member(crpc)
    application = crpc.certification.apply(
        {"member_id": member["id"], "scheme_code": scheme["code"], "session_id": assessment["id"]})
    units = all_competent(scheme)
    units[1]["competent"] = False
    result = crpc.certification.record_result(
        application["id"], {"assessor_id": assessor["id"], "units": units, "notes": "Ulang unit 2"})
    assert result["certificate"] is None
    assert result["application"]["status"] == "not_yet_competent"
    assert result["application"]["result"]["notes"] == "Ulang unit 2"
    [message] = certificate_messages.wait_for("assessment_completed", id=application["id"])
    assert message["data"]["outcome"] == "not_yet_competent"
    assert crpc.certification.list_certificates({"member_id": member["id"]})["items"] == []


def test_only_an_assigned_assessor_who_is_not_the_applicant_may_decide(crpc, scheme, assessment):
    assigned_member = make_member(crpc)
    assessor = make_assessor(crpc, [scheme["code"]], member_id=assigned_member["id"])
    own_session = make_session(crpc, scheme, [assessor])
    application = crpc.certification.apply({"member_id": assigned_member["id"],
                                            "scheme_code": scheme["code"],
                                            "session_id": own_session["id"]})
    result = {"assessor_id": assessor["id"], "units": all_competent(scheme)}
    assert remote_error(crpc.certification.record_result, application["id"],
                        result).exc_type == "Forbidden"  # their own application
    outsider = make_assessor(crpc, [scheme["code"]])
    assert remote_error(crpc.certification.record_result, application["id"],
                        {**result, "assessor_id": outsider["id"]}).exc_type == "Forbidden"
    assert crpc.certification.get_application(application["id"])["status"] == "submitted"


def test_an_assessor_with_the_applicants_email_may_not_decide_without_a_member_link(
        crpc, scheme, certification_db):
    member = make_member(crpc)
    # Registered without member_id: only the email (in other letters' case) tells.
    assessor = make_assessor(crpc, [scheme["code"]], email=member["email"].upper())
    assert assessor["member_id"] is None
    own_session = make_session(crpc, scheme, [assessor])
    application = crpc.certification.apply({"member_id": member["id"],
                                            "scheme_code": scheme["code"],
                                            "session_id": own_session["id"]})
    error = remote_error(crpc.certification.record_result, application["id"],
                         {"assessor_id": assessor["id"], "units": all_competent(scheme)})
    assert error.exc_type == "Forbidden" and "own application" in error.value, error
    assert crpc.certification.get_application(application["id"]) == application
    assert crpc.certification.list_certificates({"member_id": member["id"]})["items"] == []
    with certification_db.connect() as connection:
        assert connection.execute(sa.text(
            "SELECT count(*) FROM outbox_messages WHERE event_type IN "
            "('assessment_completed', 'certificate_issued') AND payload LIKE :m"),
            {"m": f"%{application['id']}%"}).scalar() == 0


@pytest.mark.parametrize("units_of", [
    lambda s: all_competent(s)[:1],                                   # a unit missing
    lambda s: all_competent(s) + all_competent(s)[:1],                # a unit twice
    lambda s: all_competent(s) + [{"unit_code": "X.1", "competent": True}],  # not in scheme
    lambda s: [],
    lambda s: [{"unit_code": s["units"][0]["code"], "competent": 1}] + all_competent(s)[1:],
])
def test_a_result_must_cover_every_unit_once(crpc, scheme, assessor, assessment, units_of):
    member = make_member(crpc)
    application = crpc.certification.apply(
        {"member_id": member["id"], "scheme_code": scheme["code"], "session_id": assessment["id"]})
    errors = validation_fields(crpc.certification.record_result, application["id"],
                               {"assessor_id": assessor["id"], "units": units_of(scheme)})
    assert any(key.startswith("units") for key in errors)
    assert crpc.certification.get_application(application["id"])["status"] == "submitted"


def test_a_second_result_is_a_conflict(crpc, scheme, assessor, assessment):
    _, application, _ = certify(crpc, scheme, assessor, assessment)
    assert remote_error(crpc.certification.record_result, application["id"], {
        "assessor_id": assessor["id"], "units": all_competent(scheme)}).exc_type == "Conflict"
    assert remote_error(crpc.certification.record_result, str(uuid.uuid4()), {
        "assessor_id": assessor["id"], "units": all_competent(scheme)}).exc_type == "NotFound"


def test_two_results_at_the_same_moment_exactly_one_wins(
        crpc, base_config, scheme, assessor, assessment):
    member = make_member(crpc)
    application = crpc.certification.apply(
        {"member_id": member["id"], "scheme_code": scheme["code"], "session_id": assessment["id"]})

    def decide(competent):
        with ClusterRpcProxy(base_config, context_data=admin_context(), timeout=30) as own:
            try:
                return own.certification.record_result(application["id"], {
                    "assessor_id": assessor["id"], "units": all_competent(scheme, competent)})
            except Exception as error:
                return type(error).__name__

    outcomes = list(eventlet.GreenPool(6).imap(decide, [True, False] * 3))
    winners = [o for o in outcomes if isinstance(o, dict)]
    assert len(winners) == 1 and outcomes.count("Conflict") == 5
    certificates = crpc.certification.list_certificates({"member_id": member["id"]})["items"]
    assert len(certificates) == (1 if winners[0]["certificate"] else 0)


def test_applications_racing_for_the_last_seats_never_exceed_capacity(
        crpc, base_config, scheme, assessor):
    assessment = make_session(crpc, scheme, [assessor], capacity=3)
    members = [make_member(crpc) for _ in range(10)]

    def apply(member):
        with ClusterRpcProxy(base_config, context_data=admin_context(), timeout=30) as own:
            try:
                return own.certification.apply({"member_id": member["id"],
                                                 "scheme_code": scheme["code"],
                                                 "session_id": assessment["id"]})["status"]
            except Exception as error:
                return type(error).__name__

    outcomes = list(eventlet.GreenPool(10).imap(apply, members))
    assert outcomes.count("submitted") == 3 and outcomes.count("Conflict") == 7
    assert crpc.certification.get_session(assessment["id"])["seats_taken"] == 3
    assert len(crpc.certification.list_applications(
        {"session_id": assessment["id"]})["items"]) == 3


def test_certificate_numbers_are_unique_and_unrelated(crpc, scheme, assessor):
    assessment = make_session(crpc, scheme, [assessor], capacity=5)
    numbers = [certify(crpc, scheme, assessor, assessment)[2]["number"] for _ in range(4)]
    assert len(set(numbers)) == 4
    suffixes = [n.split("-", 2)[2] for n in numbers]
    assert len({s[:4] for s in suffixes}) > 1  # not a counter: the leading group varies


def test_suspend_reinstate_and_revoke(crpc, scheme, assessor, assessment, certificate_messages):
    _, _, certificate = certify(crpc, scheme, assessor, assessment)
    number = certificate["number"]
    assert crpc.certification.suspend_certificate(number, "Pengaduan klien")["status"] == "suspended"
    assert crpc.certification.verify(number)["valid"] is False
    [suspended] = certificate_messages.wait_for("certificate_suspended", number=number)
    assert suspended["data"]["reason"] == "Pengaduan klien"
    assert crpc.certification.reinstate_certificate(number)["status"] == "active"
    certificate_messages.wait_for("certificate_reinstated", number=number)
    assert crpc.certification.verify(number)["valid"] is True
    assert crpc.certification.revoke(number, "Pemalsuan portofolio")["status"] == "revoked"
    [revoked] = certificate_messages.wait_for("certificate_revoked", number=number)
    assert CERTIFICATE_MESSAGE_FIELDS | {"reason"} <= set(revoked["data"])
    for call, args in ((crpc.certification.reinstate_certificate, (number,)),
                       (crpc.certification.suspend_certificate, (number, "x")),
                       (crpc.certification.revoke, (number, "again"))):
        assert remote_error(call, *args).exc_type == "Conflict"
    assert crpc.certification.get_certificate(number)["status"] == "revoked"


def test_certificate_status_changes_reject_bad_input(crpc, scheme, assessor, assessment):
    _, _, certificate = certify(crpc, scheme, assessor, assessment)
    assert names_field(validation_fields(crpc.certification.revoke, certificate["number"], ""),
                       "reason")
    assert names_field(validation_fields(crpc.certification.revoke, "CRT-1", "reason"), "number")
    assert remote_error(crpc.certification.suspend_certificate, "CRT-2026-0000-0000-0000",
                        "reason").exc_type == "NotFound"
    assert crpc.certification.get_certificate(certificate["number"])["status"] == "active"


def test_verify_shows_only_public_facts(crpc, scheme, assessor, assessment):
    member, _, certificate = certify(crpc, scheme, assessor, assessment)
    view = crpc.certification.verify(certificate["number"])
    assert set(view) == {"number", "valid", "status", "holder_name", "scheme_code",
                         "scheme_title", "issued_at", "valid_until"}
    assert view["valid"] is True
    flat = repr(view)
    assert member["email"] not in flat and member["phone"] not in flat and member["id"] not in flat


CERTIFICATE_KEYS = CERTIFICATE_MESSAGE_FIELDS | {"credential"}
APPLICATION_KEYS = {"id", "member_id", "scheme_code", "session_id", "status", "self_assessment",
                    "result", "created_at", "decided_at"}
SESSION_KEYS = {"id", "scheme_code", "venue", "starts_at", "capacity", "assessor_ids",
                "seats_taken"}
ASSESSOR_KEYS = {"id", "full_name", "email", "registration_number", "scheme_codes", "member_id"}
SCHEME_KEYS = {"code", "title", "subsector", "skkni_ref", "units", "validity_months",
               "requires_training"}


def test_every_record_has_exactly_the_contracts_keys(crpc, scheme, assessor, assessment):
    """No internal ids (application_id, kid, created_seq), no status_reason, nothing
    missing: the same keys from every method that returns the record."""
    member = make_member(crpc)
    application = crpc.certification.apply(
        {"member_id": member["id"], "scheme_code": scheme["code"], "session_id": assessment["id"]})
    result = crpc.certification.record_result(
        application["id"], {"assessor_id": assessor["id"], "units": all_competent(scheme)})
    assert set(result) == {"application", "certificate"}
    certificate = result["certificate"]
    for record in (certificate, crpc.certification.get_certificate(certificate["number"]),
                   *crpc.certification.list_certificates({"member_id": member["id"]})["items"],
                   crpc.certification.suspend_certificate(certificate["number"], "Audit")):
        assert set(record) == CERTIFICATE_KEYS, record
    for record in (application, result["application"],
                   crpc.certification.get_application(application["id"]),
                   *crpc.certification.list_applications({"member_id": member["id"]})["items"]):
        assert set(record) == APPLICATION_KEYS, record
    assert set(result["application"]["result"]) == {"assessor_id", "units", "notes"}
    for record in (crpc.certification.get_session(assessment["id"]),
                   *crpc.certification.list_sessions({"scheme_code": scheme["code"]})["items"]):
        assert set(record) == SESSION_KEYS, record
    for record in (crpc.certification.get_assessor(assessor["id"]),
                   *crpc.certification.list_assessors({"scheme_code": scheme["code"]})["items"]):
        assert set(record) == ASSESSOR_KEYS, record
    listed = crpc.certification.list_schemes({"subsector": scheme["subsector"], "limit": 200})
    for record in (crpc.certification.get_scheme(scheme["code"]), *listed["items"]):
        assert set(record) == SCHEME_KEYS, record

    second = crpc.certification.apply({"member_id": make_member(crpc)["id"],
                                       "scheme_code": scheme["code"],
                                       "session_id": assessment["id"]})
    not_yet = crpc.certification.record_result(
        second["id"], {"assessor_id": assessor["id"], "units": all_competent(scheme, False)})
    assert set(not_yet) == {"application", "certificate"} and not_yet["certificate"] is None
    assert set(not_yet["application"]) == APPLICATION_KEYS


def two_pages(list_method, filters):
    """Pages of 2 through three records: the first full with a cursor, the second
    the last one with ``next_cursor`` null. The records, in page order."""
    first = list_method({**filters, "limit": 2})
    assert set(first) == {"items", "next_cursor"}
    assert len(first["items"]) == 2 and isinstance(first["next_cursor"], str)
    second = list_method({**filters, "limit": 2, "cursor": first["next_cursor"]})
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    return first["items"] + second["items"]


def test_list_certificates_pages_with_limit_and_cursor(crpc, scheme, assessor):
    assessment = make_session(crpc, scheme, [assessor], capacity=3)
    numbers = [certify(crpc, scheme, assessor, assessment)[2]["number"] for _ in range(3)]
    listed = two_pages(crpc.certification.list_certificates, {"scheme_code": scheme["code"]})
    assert [c["number"] for c in listed] == numbers  # oldest first, none twice, none missing


def test_list_applications_pages_with_limit_and_cursor(crpc, scheme, assessment):
    ids = [crpc.certification.apply({"member_id": make_member(crpc)["id"],
                                     "scheme_code": scheme["code"],
                                     "session_id": assessment["id"]})["id"] for _ in range(3)]
    listed = two_pages(crpc.certification.list_applications, {"session_id": assessment["id"]})
    assert [a["id"] for a in listed] == ids  # oldest first, none twice, none missing


def test_the_daily_timer_sends_reminders_by_itself(
        crpc, scheme, assessor, assessment, certification_db, certificate_messages):
    _, _, certificate = certify(crpc, scheme, assessor, assessment)
    with certification_db.begin() as connection:
        connection.execute(sa.text("UPDATE certificates SET valid_until = :t WHERE number = :n"),
                           {"t": datetime.now(timezone.utc).replace(microsecond=0)
                            + timedelta(days=80), "n": certificate["number"]})
    [reminder] = certificate_messages.wait_for("certificate_expiring",
                                               number=certificate["number"], timeout=10)
    assert reminder["data"]["reminder"] == 90 and reminder["data"]["days_left"] == 80


def test_a_new_name_reaches_new_certificates(crpc, scheme, assessor, assessment, certification_db):
    import sqlalchemy as sa

    member = make_member(crpc)
    crpc.members.update_profile(member["id"], {"full_name": "Siti Rahmawati, S.Ds."})

    def view_name():
        with certification_db.connect() as connection:
            return connection.execute(sa.text(
                "SELECT full_name FROM member_views WHERE member_id = :id"),
                {"id": member["id"]}).scalar()

    wait_until(lambda: view_name() == "Siti Rahmawati, S.Ds.")
    _, _, certificate = certify(crpc, scheme, assessor, assessment, member=member)
    assert certificate["holder_name"] == "Siti Rahmawati, S.Ds."


def test_expire_due_rejects_a_bad_time(crpc):
    for bad in ("later", 5, "9999-12-31T23:59:59-10:00", "9999-11-01T00:00:00+00:00",
                "2099-01-01T00:00:00", "2099-01-01"):
        assert names_field(validation_fields(crpc.certification.expire_due, bad), "now")
