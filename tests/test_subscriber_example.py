"""docs/subscribing.md works: its example, started with the guide's own command under a
login with the guide's own permissions, learns of a certificate the real services
issue, and a redelivery of that message changes nothing."""
import json
import os
import secrets
import shlex
import sqlite3
import subprocess
import uuid
from contextlib import closing
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest
import yaml
from kombu import Connection, Exchange, Producer, Queue
from nameko.standalone.rpc import ClusterRpcProxy

from shared.catalog import payload_validator
from tests.support.factories import (
    all_competent,
    make_assessor,
    make_member,
    make_scheme,
    make_session,
)
from tests.support.services import NAMEKO, REPO_ROOT, running_services
from tests.support.waiting import wait_until
from tests.support.identities import admin_context

GUIDE = REPO_ROOT / "docs" / "subscribing.md"
QUEUE = "evt-certification-certificate_issued--certificate_register.on_certificate_issued"


def guide_command(starts_with):
    """The guide's command line that starts with ``starts_with``, split as a shell would."""
    lines = [line.strip() for line in GUIDE.read_text(encoding="utf-8").splitlines()
             if line.strip().startswith(starts_with)]
    assert len(lines) == 1, f"the guide should show one `{starts_with}` line"
    return shlex.split(lines[0])


def queue_exists(amqp_uri, name):
    with Connection(amqp_uri) as connection:
        try:
            connection.channel().queue_declare(queue=name, passive=True)
            return True
        except Exception:  # NOT_FOUND closes the channel
            return False


@pytest.fixture
def broker(vhost_config):
    """A vhost of the test's own, and a login for the subscriber with exactly the
    permissions the guide tells operators to grant. Yields (config, subscriber uri)."""
    amqp_uri = vhost_config["AMQP_URI"]
    vhost = unquote(urlsplit(amqp_uri).path[1:])
    permissions = guide_command("rabbitmqctl set_permissions")
    assert permissions[:5] == ["rabbitmqctl", "set_permissions", "-p", "/",
                               "certificate-register"]
    login, password = f"certificate-register-{uuid.uuid4().hex[:8]}", secrets.token_hex(16)
    subprocess.run(["rabbitmqctl", "add_user", login, password], check=True,
                   capture_output=True)
    try:
        subprocess.run(["rabbitmqctl", "set_permissions", "-p", vhost, login,
                        *permissions[5:]], check=True, capture_output=True)
        base = urlsplit(amqp_uri)
        yield (vhost_config,
               urlunsplit(base._replace(netloc=f"{login}:{password}@{base.hostname}:"
                                               f"{base.port or 5672}")))
    finally:
        subprocess.run(["rabbitmqctl", "delete_user", login], capture_output=True)


@pytest.fixture
def example(broker, tmp_path):
    """The example, started from the repository root with the guide's command."""
    config, subscriber_uri = broker
    command = guide_command("nameko run")
    assert command == ["nameko", "run", "--config", "examples/certificate_subscriber.yml",
                       "examples.certificate_subscriber"]
    ledger, log_path = tmp_path / "ledger.sqlite", tmp_path / "subscriber.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [NAMEKO, *command[1:]], cwd=REPO_ROOT, stdout=log_file, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONWARNINGS": "ignore",
                 "AMQP_URI": subscriber_uri, "CERTIFICATE_LEDGER": str(ledger)})
    process.ledger, process.log = ledger, lambda: log_path.read_text(errors="replace")
    try:
        wait_until(lambda: queue_exists(config["AMQP_URI"], QUEUE) or process.poll() is not None,
                   timeout=30, message="the example's queue")
        assert process.poll() is None, process.log()
        yield process
    finally:
        process.terminate()
        process.wait(30)


def ledger_rows(path, table):
    with closing(sqlite3.connect(path)) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute(f"SELECT * FROM {table}")]


def test_the_example_learns_of_an_issued_certificate_once(broker, example, new_database,
                                                          tmp_path):
    config, _ = broker
    # What certification sends, captured alongside the example: to check and resend it.
    with Connection(config["AMQP_URI"]) as connection:
        capture = Queue(f"subscriber-capture-{uuid.uuid4().hex[:6]}",
                        Exchange("certification.events", "topic", durable=True),
                        routing_key="certificate_issued", auto_delete=True,
                        channel=connection.channel())
        capture.declare()
        with running_services(("members", "certification"), config, tmp_path, new_database,
                              settings={"OUTBOX_POLL_SECONDS": 0.5}):
            with ClusterRpcProxy(config, context_data=admin_context(), timeout=30) as rpc:
                scheme = make_scheme(rpc)
                assessor = make_assessor(rpc, [scheme["code"]])
                session = make_session(rpc, scheme, [assessor])
                member = make_member(rpc)
                application = rpc.certification.apply({
                    "member_id": member["id"], "scheme_code": scheme["code"],
                    "session_id": session["id"]})
                certificate = rpc.certification.record_result(application["id"], {
                    "assessor_id": assessor["id"], "units": all_competent(scheme)})["certificate"]

            number = certificate["number"]
            wait_until(lambda: ledger_rows(example.ledger, "certificates"), timeout=30,
                       message=f"the example to record {number}")
            [recorded] = ledger_rows(example.ledger, "certificates")
            assert recorded["number"] == number
            assert recorded["holder_name"] == member["full_name"]
            assert recorded["scheme_code"] == scheme["code"]
            assert f"certificate {number} issued to {member['full_name']}" in example.log()

            # The same message again, as a redelivery or a re-sent outbox row would be.
            sent = wait_until(lambda: capture.get(no_ack=True), message="the captured message")
            envelope = json.loads(sent.body)
            document = yaml.safe_load((REPO_ROOT / "docs" / "asyncapi.yaml").read_text())
            payload_validator(document, "certificate_issued").validate(envelope)
            Producer(connection.channel()).publish(
                sent.body, exchange="certification.events", routing_key="certificate_issued",
                delivery_mode=2, content_type="application/json", content_encoding="utf-8",
                message_id=envelope["event_id"], type="certificate_issued")
            wait_until(lambda: f"event {envelope['event_id']} already applied" in example.log(),
                       timeout=30, message="the example to see the redelivery")

    assert len(ledger_rows(example.ledger, "certificates")) == 1
    assert [row["event_id"] for row in ledger_rows(example.ledger, "processed_events")] == [
        envelope["event_id"]]
    assert example.log().count(f"certificate {number} issued") == 1
    assert example.poll() is None and "ACCESS_REFUSED" not in example.log(), example.log()
