"""The ``ekraf`` command, as installed with the project, against the running services."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy

from tests.support.broker import drain_queue
from tests.support.factories import (
    issue_certificate,
    make_assessor,
    make_scheme,
    make_session,
    member_data,
)
from tests.support.services import free_port, running_service, running_services
from tests.support.waiting import wait_until
from tests.support.identities import admin_client_file, admin_context

EKRAF = str(Path(sys.executable).parent / "ekraf")
ROOT = Path(__file__).resolve().parent.parent


def ekraf(*args, amqp_uri, timeout=60, **env):
    """Run ekraf as the run's admin client (unless ``EKRAF_CLIENT_FILE`` is given)."""
    result = subprocess.run([EKRAF, *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=timeout, env={**os.environ, "AMQP_URI": amqp_uri,
                                                  "PYTHONWARNINGS": "ignore", "COLUMNS": "160",
                                                  "EKRAF_CLIENT_FILE": admin_client_file(),
                                                  **env})
    return result.returncode, result.stdout, result.stderr


@pytest.fixture
def uri(base_config):
    return base_config["AMQP_URI"]


def test_call_runs_a_method_with_json_arguments(uri, members_service):
    code, out, _ = ekraf("call", "members.register", json.dumps(member_data(phone="0812-5401-1001")), amqp_uri=uri)
    assert code == 0
    member = json.loads(out)
    assert member["status"] == "pending" and member["phone"] == "+6281254011001"
    code, out, _ = ekraf("call", "members.get", member["id"], amqp_uri=uri)
    assert code == 0 and json.loads(out)["email"] == member["email"]
    code, out, _ = ekraf("call", "members.list", '{"city": "Balikpapan", "limit": 1}',
                         amqp_uri=uri)
    assert code == 0 and len(json.loads(out)["items"]) == 1


def test_call_reports_errors_clearly(uri, members_service):
    code, _, err = ekraf("call", "members.get", "00000000-0000-4000-8000-000000000000",
                         amqp_uri=uri)
    assert code == 1 and err.startswith("NotFound")
    code, _, err = ekraf("call", "members.register", '{"full_name": "Siti"}', amqp_uri=uri)
    assert code == 1 and "ValidationError" in err and "email" in err
    code, _, err = ekraf("call", "nobody.anything", amqp_uri=uri)
    assert code == 1 and "no service called 'nobody'" in err
    code, _, err = ekraf("call", "members", amqp_uri=uri)
    assert code == 2 and "SERVICE.METHOD" in err


def test_a_broker_that_does_not_answer_is_named(members_service):
    port = free_port()
    for command in (["status"], ["call", "members.get", "x"], ["dlq", "list", "events"]):
        code, _, err = ekraf(*command, amqp_uri=f"amqp://guest:secret@127.0.0.1:{port}/")
        assert code == 2, command
        assert f"RabbitMQ does not answer at amqp://guest@127.0.0.1:{port}/" in err
        assert "secret" not in err  # where it looked, without the password


SERVICES = ("members", "certification", "events", "notifications")


def test_status_shows_every_service_healthy(vhost_config, make_database, smtp_server, tmp_path):
    """The four services on a vhost of the test's own: no dead letter other tests
    parked (on purpose) in the session's queues."""
    with running_services(SERVICES, vhost_config, tmp_path,
                          lambda name: make_database(f"cli_status_{name}"),
                          smtp_port=smtp_server.port):
        code, out, _ = ekraf("status", amqp_uri=vhost_config["AMQP_URI"])
    assert code == 0, out
    rows = {line.split()[1]: line for line in out.splitlines()
            if line.startswith("│") and line.split()[1] in ("members", "certification",
                                                             "events", "notifications")}
    assert len(rows) == 4 and all(" ok " in row for row in rows.values()), out
    assert "all healthy" in out


def test_status_with_a_service_down(vhost_config, make_database, tmp_path):
    """Only members runs in this vhost: the others do not answer; their databases
    are still checked directly."""
    with running_service("members", vhost_config, make_database("cli_members"), tmp_path):
        code, out, _ = ekraf("status", amqp_uri=vhost_config["AMQP_URI"],
                             CERTIFICATION_DB_URL=make_database("cli_certification"),
                             EVENTS_DB_URL="postgresql://postgres@127.0.0.1:1/nowhere")
    assert code == 1
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("│")}
    assert "ok" in rows["members"] and "no answer" not in rows["members"]
    assert "no answer" in rows["certification"] and "ok (direct)" in rows["certification"]
    assert "no answer" in rows["events"] and "unreachable" in rows["events"]
    assert "no answer" in rows["notifications"]
    assert "3 problem(s)" in out


@pytest.fixture
def own_notifications(vhost_config, make_database, smtp_server, tmp_path):
    """Notifications alone on a vhost of the test's own: its dead-letter queue holds
    only what the test parks there."""
    with running_services(["notifications"], vhost_config, tmp_path,
                          lambda name: make_database("cli_dlq_notifications"),
                          smtp_port=smtp_server.port):
        yield vhost_config


def test_dlq_list_and_replay(own_notifications):
    base_config = own_notifications
    uri = base_config["AMQP_URI"]
    # A message without an event_id: notifications parks it at once.
    event_dispatcher(base_config)("events", "event_published",
                                  {"event_type": "event_published", "data": {"id": "x"}})
    with ClusterRpcProxy(base_config, context_data=admin_context(), timeout=10) as rpc:
        wait_until(lambda: rpc.notifications.health()["dead_letters"] == 1, timeout=15,
                   message="the message parked")
        code, out, err = ekraf("dlq", "list", "notifications", amqp_uri=uri)
        assert code == 0 and "1 message(s) parked in notifications.dead-letter" in err
        [parked] = [json.loads(line) for line in out.splitlines()]
        assert parked["event_type"] == "event_published" and parked["attempts"] == 1
        assert parked["error"].startswith("MalformedMessage") and parked["queue"].startswith(
            "evt-events-event_published--notifications.")
        assert rpc.notifications.health()["dead_letters"] == 1  # listing leaves it parked
        code, out, _ = ekraf("dlq", "replay", "notifications", "--all", amqp_uri=uri)
        assert code == 0 and "replayed 1 message(s)" in out
        # Replayed, handled again, still malformed: parked again, with its reason.
        wait_until(lambda: rpc.notifications.health()["dead_letters"] == 1, timeout=15)
    code, _, err = ekraf("dlq", "replay", "notifications", amqp_uri=uri)
    assert code == 2 and "--all or --event-id" in err
    [(_, headers)] = drain_queue(uri, "notifications.dead-letter")
    assert "event_id" in headers["x-ekraf-error"]


def test_deliveries_retry_sends_failed_ones_again(uri, rpc, notifications_service, sms_gateway):
    phone = f"0813{int.from_bytes(os.urandom(4), 'big') % 10**8:08d}"
    sms_gateway.failures["+62" + phone[1:]] = 99  # the gateway is down
    member = rpc.members.activate(rpc.members.register(member_data(phone=phone))["id"])

    def sms(status):
        return rpc.notifications.list_deliveries(
            {"member_id": member["id"], "channel": "sms", "status": status})["items"]

    failed = wait_until(lambda: len(sms("failed")) == 2 and sms("failed"), timeout=30,
                        message="both SMS failed")
    sms_gateway.failures["+62" + phone[1:]] = 0  # and back
    first = failed[0]["id"]
    code, out, _ = ekraf("deliveries", "retry", first, amqp_uri=uri)
    assert code == 0 and f"re-queued delivery {first} (sms" in out, out
    [sent] = wait_until(lambda: sms("sent"), timeout=15, message="the retried SMS sent")
    assert sent["id"] == first and sent["retries"] == 1

    code, out, _ = ekraf("deliveries", "retry", "--failed", "--channel", "sms", "--member-id",
                         member["id"], "--since", "1m", amqp_uri=uri)
    assert code == 0 and "re-queued 1 failed delivery(ies)" in out, out
    wait_until(lambda: len(sms("sent")) == 2, timeout=15, message="both SMS sent")

    code, _, err = ekraf("deliveries", "retry", first, amqp_uri=uri)  # sent now
    assert code == 1 and err.startswith("Conflict") and "is sent" in err
    code, _, err = ekraf("deliveries", "retry", "00000000-0000-4000-8000-000000000000",
                         amqp_uri=uri)
    assert code == 1 and err.startswith("NotFound")
    code, _, err = ekraf("deliveries", "retry", "not-an-id", amqp_uri=uri)
    assert code == 1 and "ValidationError" in err and "delivery_id" in err
    code, _, err = ekraf("deliveries", "retry", amqp_uri=uri)
    assert code == 2 and "DELIVERY_ID or --failed" in err
    code, _, err = ekraf("deliveries", "retry", first, "--channel", "sms", amqp_uri=uri)
    assert code == 2 and "go with --failed" in err
    for since in ("soon", "0h", "7w", "-1d"):
        code, _, err = ekraf("deliveries", "retry", "--failed", "--since", since, amqp_uri=uri)
        assert code == 2 and "--since" in err, (since, err)


def test_verify_checks_a_credential_offline(uri, rpc, certification_service, tmp_path):
    scheme = make_scheme(rpc)
    assessor = make_assessor(rpc, [scheme["code"]])
    member, certificate = issue_certificate(rpc, scheme, assessor,
                                            make_session(rpc, scheme, [assessor]))
    base = certification_service.http_base
    code, out, _ = ekraf("verify", certificate["number"], "--base-url", base, amqp_uri=uri)
    assert code == 0, out
    assert f"certificate {certificate['number']}: signature valid" in out
    assert member["full_name"] in out and "register today: active (valid)" in out

    # Offline: the token and keys saved earlier, one character of the signature changed.
    token = certificate["credential"]
    jwks = tmp_path / "jwks.json"
    with urllib.request.urlopen(f"{base}/.well-known/jwks.json", timeout=10) as response:
        jwks.write_bytes(response.read())
    good, bad = tmp_path / "good.jws", tmp_path / "bad.jws"
    good.write_text(token)
    bad.write_text(token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:])
    code, out, _ = ekraf("verify", certificate["number"], "--credential", str(good),
                         "--jwks", str(jwks), amqp_uri=uri)
    assert code == 0 and "signature valid" in out
    code, _, err = ekraf("verify", certificate["number"], "--credential", str(bad),
                         "--jwks", str(jwks), amqp_uri=uri)
    assert code == 1 and "NOT VALID" in err
    code, _, err = ekraf("verify", "CRT-2026-AAAA-AAAA-AAAA", "--base-url", base, amqp_uri=uri)
    assert code == 1 and "answered 404" in err


def test_up_starts_the_four_services_and_ctrl_c_stops_them(vhost_config, make_database,
                                                          smtp_server, tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "AMQP_URI": vhost_config["AMQP_URI"],
           "REGISTRY_DB_URL": vhost_config["REGISTRY_DB_URL"], "VAR_DIR": str(tmp_path),
           "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_server.port),
           "METRICS_ADDRESS": "", "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}",
           **{f"{name.upper()}_DB_URL": make_database(f"cli_up_{name}")
              for name in ("members", "certification", "events", "notifications")}}
    process = subprocess.Popen([EKRAF, "up"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")),
                              daemon=True)
    reader.start()
    try:
        wait_until(lambda: any("all four services answer" in line for line in lines),
                   timeout=120, interval=0.5, message="ekraf up to start the services")
        with ClusterRpcProxy(vhost_config, context_data=admin_context(), timeout=10) as rpc:
            assert rpc.events.health()["status"] == "ok"
        # The services' log lines come through, each prefixed with its name.
        assert any(line.startswith("[members] ") for line in lines)
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
        reader.join(5)
    finally:
        if process.poll() is None:
            process.kill()
    assert any(line.strip() == "stopped" for line in lines)
    # It made the admin client it (and the demo) call as, readable by its owner only.
    admin_file = tmp_path / "ekraf-admin.json"
    assert oct(admin_file.stat().st_mode & 0o777) == "0o600"
    assert set(json.loads(admin_file.read_text())) == {"name", "roles", "amqp_uri",
                                                        "context_data"}

    def status():
        return ekraf("status", amqp_uri=vhost_config["AMQP_URI"])

    # Nothing left running: no service answers (each status call waits out its RPC
    # timeouts; polled, as the broker may take a moment to drop a stopped consumer).
    code, out, _ = wait_until(lambda: (result := status())[1].count("no answer") == 4
                              and result, timeout=30, message="no service answering")
    assert code == 1


def test_up_says_which_process_could_not_start(vhost_config, make_database, tmp_path):
    """The mail catcher's port is taken: `ekraf up` names it, stops the services it
    started and exits 1, rather than serving without mail."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    env = {key: value for key, value in os.environ.items() if key != "SMTP_HOST"}
    env.update({"PYTHONWARNINGS": "ignore", "AMQP_URI": vhost_config["AMQP_URI"],
                "REGISTRY_DB_URL": vhost_config["REGISTRY_DB_URL"], "VAR_DIR": str(tmp_path),
                "SMTP_PORT": str(taken.getsockname()[1]), "METRICS_ADDRESS": "",
                "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}", "COLUMNS": "200",
                **{f"{name.upper()}_DB_URL": make_database(f"cli_fail_{name}")
                   for name in ("members", "certification", "events", "notifications")}})
    try:
        result = subprocess.run([EKRAF, "up"], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=120)
    finally:
        taken.close()
    assert result.returncode == 1, result.stdout[-2000:]
    assert "the mail catcher (127.0.0.1:" in result.stderr
    assert "exited while starting" in result.stderr
    assert "stopped" in result.stdout
