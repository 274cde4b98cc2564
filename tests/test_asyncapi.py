"""The message catalog (docs/asyncapi.yaml) says what the services really publish.

The committed document is what the code's message schemas generate. Then members,
certification and events run as operators start them, in a RabbitMQ vhost of this
module's own, and a flow makes every message of the catalog happen; a queue bound to
each ``<service>.events`` exchange with ``#`` captures them all, and each one (envelope
and data) must pass the document's JSON Schema, travel as its AMQP binding says, and
pass the marshmallow schema it was generated from. And a broken payload must fail.
"""
import copy
import json
import subprocess
import sys
import uuid
from datetime import datetime, timedelta

import pytest
import yaml
from kombu import Connection, Exchange, Queue, binding
from nameko.standalone.rpc import ClusterRpcProxy

from devtools import asyncapi
from shared.catalog import (
    PUBLISHERS,
    build_document,
    payload_validator,
    published_messages,
)
from tests.support.factories import (
    all_competent,
    event_data,
    make_assessor,
    make_scheme,
    make_session,
    member_data,
    tag,
)
from tests.support.services import REPO_ROOT, running_services
from tests.support.waiting import wait_until
from tests.support.identities import admin_context

DOCUMENT_PATH = REPO_ROOT / "docs" / "asyncapi.yaml"


# -- (a) the committed document is the generated one ---------------------------------

def test_the_committed_catalog_is_what_the_code_generates():
    assert DOCUMENT_PATH.read_text(encoding="utf-8") == asyncapi.render(), (
        "docs/asyncapi.yaml is out of date: run `python -m devtools.asyncapi`")
    assert yaml.safe_load(DOCUMENT_PATH.read_text(encoding="utf-8")) == build_document()


def test_the_check_command_passes_now_and_fails_on_a_stale_file(tmp_path, capsys):
    result = subprocess.run([sys.executable, "-m", "devtools.asyncapi", "--check"],
                            cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    stale = tmp_path / "asyncapi.yaml"
    stale.write_text(DOCUMENT_PATH.read_text(encoding="utf-8").replace(
        "certificate_issued", "certificate_granted", 1), encoding="utf-8")
    assert asyncapi.check(stale) == 1
    assert "run `python -m devtools.asyncapi`" in capsys.readouterr().err
    assert asyncapi.check(tmp_path / "missing.yaml") == 1


def test_the_catalog_has_one_channel_operation_and_message_per_published_type():
    document = build_document()
    for service, messages in published_messages().items():
        for event_type in messages:
            channel = document["channels"][event_type]
            assert channel["address"] == event_type
            assert channel["bindings"]["amqp"]["exchange"]["name"] == f"{service}.events"
            assert document["operations"][event_type]["action"] == "send"
            payload = document["components"]["messages"][event_type]["payload"]
            assert payload["allOf"][1]["properties"]["producer"] == {"const": service}
    assert len(document["channels"]) == sum(len(m) for m in published_messages().values()) == 22


# -- (b) real messages pass the document --------------------------------------------

class Capture:
    """A queue bound with ``#`` to every publisher's events exchange: all they send."""

    def __init__(self, amqp_uri):
        self.connection = Connection(amqp_uri)
        exchanges = [Exchange(f"{service}.events", "topic", durable=True)
                     for service in PUBLISHERS]
        self.queue = Queue(f"catalog-capture-{uuid.uuid4().hex[:6]}", auto_delete=True,
                           bindings=[binding(exchange, routing_key="#") for exchange in exchanges],
                           channel=self.connection.channel())
        for exchange in exchanges:
            exchange(self.queue.channel).declare()
        self.queue.declare()
        self.messages = []

    def take(self):
        while (message := self.queue.get(no_ack=True)) is not None:
            self.messages.append(message)
        return self.messages

    def types(self):
        return {json.loads(message.body)["event_type"] for message in self.take()}

    def close(self):
        self.connection.release()


def in_days(days, start=None):
    return ((start or datetime.now().astimezone()) + timedelta(days=days)).isoformat()


def named_member(name, **extra):
    return member_data(full_name=f"{name} {tag()}", subsector="desain_komunikasi_visual", **extra)


def every_message_happens(rpc):
    """A flow through the three publishers that makes each message of the catalog."""
    members = rpc.members
    first = members.register(named_member("Ayu Lestari", business_name="Studio Mahakam",
                                         nib="1234567890123", locale="en"))
    second = members.register(named_member("Budi Santoso"))
    third = members.register(named_member("Citra Dewi"))
    for member in (first, second, third):
        members.activate(member["id"])
    members.update_profile(first["id"], {"city": "Samarinda", "business_name": None})
    members.suspend(second["id"], "Iuran belum dibayar")
    members.reinstate(second["id"])
    members.renew(third["id"])

    scheme = make_scheme(rpc)
    assessor = make_assessor(rpc, [scheme["code"]])
    session = make_session(rpc, scheme, [assessor])

    # A training for the scheme, one seat: confirmed, waitlisted, cancelled, promoted, attended.
    training = rpc.events.create_event(event_data(
        kind="training", capacity=1, scheme_code=scheme["code"], description="Pelatihan DKV",
        subsectors=["desain_komunikasi_visual"]))
    rpc.events.publish_event(training["id"])
    rpc.events.register(training["id"], first["id"])
    rpc.events.register(training["id"], second["id"])
    rpc.events.cancel_registration(training["id"], first["id"])
    rpc.events.check_in(training["id"], second["id"])
    dialog = rpc.events.create_event(event_data())
    rpc.events.publish_event(dialog["id"])
    rpc.events.register(dialog["id"], third["id"])
    rpc.events.cancel_event(dialog["id"], "Gedung tidak tersedia")

    certification = rpc.certification
    applications = [
        certification.apply({"member_id": member["id"], "scheme_code": scheme["code"],
                             "session_id": session["id"], **extra})
        for member, extra in ((first, {"self_assessment": [
            {"unit_code": unit["code"], "competent_claim": True} for unit in scheme["units"]]}),
            (second, {}), (third, {}))]
    revoked = certification.record_result(applications[0]["id"], {
        "assessor_id": assessor["id"], "units": all_competent(scheme), "notes": "Baik sekali"})
    certification.record_result(applications[1]["id"], {
        "assessor_id": assessor["id"], "units": all_competent(scheme, competent=False)})
    expiring = certification.record_result(applications[2]["id"], {
        "assessor_id": assessor["id"], "units": all_competent(scheme)})["certificate"]
    number = revoked["certificate"]["number"]
    certification.suspend_certificate(number, "Pemeriksaan ulang portofolio")
    certification.reinstate_certificate(number)
    certification.revoke(number, "Portofolio terbukti bukan karya sendiri")

    valid_until = datetime.fromisoformat(expiring["valid_until"])
    assert certification.expire_due(in_days(-60, valid_until))["expiring_90"] == 1
    assert certification.expire_due(in_days(1, valid_until))["expired"] == 1
    assert members.expire_due(in_days(3 * 366)) == 3


def test_every_message_the_services_send_matches_the_catalog(vhost_config, new_database,
                                                              tmp_path):
    document = yaml.safe_load(DOCUMENT_PATH.read_text(encoding="utf-8"))
    catalog_types = set(document["components"]["messages"])
    capture = Capture(vhost_config["AMQP_URI"])  # bound before anything is published
    try:
        with running_services(("members", "certification", "events"), vhost_config, tmp_path,
                              new_database, settings={"OUTBOX_POLL_SECONDS": 0.5}):
            with ClusterRpcProxy(vhost_config, context_data=admin_context(), timeout=30) as rpc:
                every_message_happens(rpc)
            wait_until(lambda: capture.types() >= catalog_types, timeout=30,
                       message=f"every message type; missing {catalog_types - capture.types()}")
        messages = capture.take()
    finally:
        capture.close()

    assert {json.loads(m.body)["event_type"] for m in messages} == catalog_types
    schemas = {event_type: schema for service_messages in published_messages().values()
               for event_type, schema in service_messages.items()}
    validators = {event_type: payload_validator(document, event_type)
                  for event_type in catalog_types}
    for message in messages:
        envelope = json.loads(message.body)
        event_type = envelope["event_type"]
        errors = [f"{list(error.absolute_path)}: {error.message}"
                  for error in validators[event_type].iter_errors(envelope)]
        assert not errors, (event_type, errors, envelope)
        assert schemas[event_type]().validate(envelope["data"]) == {}, envelope
        # The AMQP side, as the channel, operation and message bindings say.
        channel = document["channels"][event_type]
        operation = document["operations"][event_type]
        assert message.delivery_info["exchange"] == channel["bindings"]["amqp"]["exchange"]["name"]
        assert message.delivery_info["routing_key"] == channel["address"] == event_type
        assert message.properties["delivery_mode"] == operation["bindings"]["amqp"]["deliveryMode"]
        assert message.content_type == document["defaultContentType"]
        assert message.properties.get("message_id") == envelope["event_id"]
        assert message.properties.get("type") == event_type


# -- (c) a broken payload fails ----------------------------------------------------

def certificate_issued_message():
    return {
        "event_id": str(uuid.uuid4()), "event_type": "certificate_issued",
        "occurred_at": "2026-11-28T03:00:00+00:00", "producer": "certification",
        "schema_version": 1,
        "data": {"number": "CRT-2026-7KQ2-M9XD-4FJA", "member_id": str(uuid.uuid4()),
                 "holder_name": "Ayu Lestari", "scheme_code": "DKV-JUNIOR",
                 "scheme_title": "Desainer Grafis Muda", "status": "active",
                 "issued_at": "2026-11-28T03:00:00+00:00",
                 "valid_until": "2029-11-28T03:00:00+00:00",
                 "verify_url": "https://sertifikat.ekraf-kaltim.test/certificates/"
                               "CRT-2026-7KQ2-M9XD-4FJA"},
    }


def broken(change):
    message = certificate_issued_message()
    change(message)
    return message


@pytest.mark.parametrize("what, message", [
    ("data lacks a required field", broken(lambda m: m["data"].pop("holder_name"))),
    ("the envelope lacks event_id", broken(lambda m: m.pop("event_id"))),
    ("a wrong type", broken(lambda m: m["data"].update(holder_name=42))),
    ("null where not nullable", broken(lambda m: m["data"].update(valid_until=None))),
    ("a status this message never has", broken(lambda m: m["data"].update(status="revoked"))),
    ("a field the catalog does not know", broken(lambda m: m["data"].update(email="a@b.id"))),
    ("a time without an offset", broken(lambda m: m.update(occurred_at="2026-11-28 03:00"))),
    ("not a UUID", broken(lambda m: m["data"].update(member_id="member-1"))),
    ("the wrong producer", broken(lambda m: m.update(producer="members"))),
    ("another schema version", broken(lambda m: m.update(schema_version=2))),
])
def test_a_broken_message_fails_the_catalog(what, message):
    validator = payload_validator(build_document(), "certificate_issued")
    assert validator.is_valid(certificate_issued_message())  # the control
    assert not validator.is_valid(message), what


def test_nullable_fields_take_null_and_their_type_only():
    validator = payload_validator(build_document(), "member_registered")
    record = {"id": str(uuid.uuid4()), "member_number": None, "full_name": "Budi Santoso",
              "email": "budi@example.id", "phone": "+6281254007788", "city": "Balikpapan",
              "province": "Kalimantan Timur", "subsector": "kuliner", "business_name": None,
              "nib": None, "locale": "id", "status": "pending", "active_since": None,
              "valid_until": None, "created_at": "2026-11-28T03:00:00.123456+00:00",
              "updated_at": "2026-11-28T03:00:00.123456+00:00"}
    message = {"event_id": str(uuid.uuid4()), "event_type": "member_registered",
               "occurred_at": "2026-11-28T03:00:00+00:00", "producer": "members",
               "schema_version": 1, "data": record}
    assert validator.is_valid(message)
    wrong = copy.deepcopy(message)
    wrong["data"]["nib"] = 1234567890123
    assert not validator.is_valid(wrong)
    wrong["data"]["nib"] = "123"  # a string, but not a NIB
    assert not validator.is_valid(wrong)
