"""Health, metrics and logs of the four services, as operators see them: the
``health`` RPC, a Prometheus scrape of each service's /metrics, and JSON log lines
that follow one request from members to the services that react to it."""
import json
import urllib.request
import uuid

import pytest
import sqlalchemy as sa
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy
from prometheus_client.parser import text_string_to_metric_families

from tests.support.broker import drain_queue
from tests.support.calls import remote_error
from tests.support.factories import make_member
from tests.support.services import running_service
from tests.support.waiting import wait_until
from tests.support.identities import admin_context

SERVICES = ("members", "certification", "events", "notifications")


@pytest.fixture
def services(members_service, certification_service, events_service, notifications_service):
    return {"members": members_service, "certification": certification_service,
            "events": events_service, "notifications": notifications_service}


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def log_lines(process):
    lines = [line for line in process.log().splitlines() if line.startswith("{")]
    return [json.loads(line) for line in lines]


def test_every_service_reports_its_health(rpc, services):
    for name in SERVICES:
        report = getattr(rpc, name).health()
        assert report["service"] == name and report["status"] == "ok", report
        assert report["database"] == {"ok": True} and report["broker"] == {"ok": True}
        assert isinstance(report["dead_letters"], int)
        if name == "notifications":  # it publishes nothing: no outbox
            assert report["outbox_backlog"] is None
        else:
            assert isinstance(report["outbox_backlog"], int)


def test_health_says_degraded_when_the_database_is_gone(vhost_config, make_database, tmp_path):
    url = make_database("health_" + uuid.uuid4().hex[:6])
    with running_service("members", vhost_config, url, tmp_path):
        with ClusterRpcProxy(vhost_config, context_data=admin_context(), timeout=10) as proxy:
            assert proxy.members.health()["status"] == "ok"
            admin = sa.create_engine(url.rsplit("/", 1)[0] + "/postgres",
                                     isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(sa.text(
                    f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
            admin.dispose()
            report = proxy.members.health()
        assert report["status"] == "degraded"
        assert report["database"]["ok"] is False
        assert report["database"]["error"] == "OperationalError"
        assert report["broker"] == {"ok": True} and report["outbox_backlog"] is None
        assert "postgresql://" not in json.dumps(report)  # no connection strings


def test_metrics_count_calls_per_method_and_outcome(rpc, services):
    url = services["members"].metrics_url
    before = scrape(url)
    member = make_member(rpc, activate=False, subsector="musik")
    for _ in range(3):
        rpc.members.get(member["id"])
    assert remote_error(rpc.members.get, str(uuid.uuid4())).exc_type == "NotFound"

    def grew(after, method, outcome):
        name = "ekraf_rpc_duration_seconds_count"
        labels = {"service": "members", "method": method, "outcome": outcome}
        return value(after, name, **labels) - value(before, name, **labels)

    def with_the_last_call_counted():
        # A call is counted when its worker ends, just after its reply.
        now = scrape(url)
        return now if grew(now, "get", "NotFound") else None

    after = wait_until(with_the_last_call_counted, timeout=10, message="the last call counted")
    assert grew(after, "get", "ok") == 3 and grew(after, "get", "NotFound") == 1
    assert grew(after, "register", "ok") == 1
    bucket = {"service": "members", "method": "get", "outcome": "ok", "le": "+Inf"}
    assert value(after, "ekraf_rpc_duration_seconds_bucket", **bucket) - value(
        before, "ekraf_rpc_duration_seconds_bucket", **bucket) == 3
    assert ("ekraf_outbox_backlog", (("service", "members"),)) in after
    assert ("ekraf_dead_letter_depth", (("service", "members"),)) in after


def test_metrics_count_handled_and_parked_messages(rpc, base_config, services):
    url = services["notifications"].metrics_url
    dead_letters = "notifications.dead-letter"
    drain_queue(base_config["AMQP_URI"], dead_letters)  # what earlier tests parked there
    before = scrape(url)
    make_member(rpc, activate=False, subsector="musik")
    # A message without an event_id: parked at once (see the notifications tests).
    malformed = {"event_type": "certificate_issued", "data": {"number": str(uuid.uuid4())}}
    event_dispatcher(base_config)("certification", "certificate_issued", malformed)
    handler = "on_members_member_registered"
    parked = {"service": "notifications",
              "queue": "evt-certification-certificate_issued--notifications."
                       "on_certification_certificate_issued"}

    def grew(now, name, **labels):
        return value(now, name, **labels) - value(before, name, **labels)

    def handled():
        now = scrape(url)
        return now if grew(now, "ekraf_handler_duration_seconds_count", service="notifications",
                           handler=handler, outcome="ok") > 0 and grew(
            now, "ekraf_messages_parked_total", **parked) > 0 else None

    after = wait_until(handled, timeout=20, interval=0.3, message="the counters to move")
    # Handled: at least this member's registration (the session's notifications may
    # still be handling registrations of earlier tests, so not an exact count).
    assert grew(after, "ekraf_messages_parked_total", **parked) == 1
    assert value(after, "ekraf_dead_letter_depth", service="notifications") == 1
    [(body, _)] = drain_queue(base_config["AMQP_URI"], dead_letters)
    assert json.loads(body) == malformed


def test_json_logs_follow_a_request_across_services(rpc, services):
    member = make_member(rpc, activate=False, subsector="musik")
    rpc.members.activate(member["id"])
    members_lines = log_lines(services["members"])
    [recorded] = [line for line in members_lines if line.get("event_type") == "member_activated"
                  and line["message"] == "message member_activated recorded"
                  and line["call_id"] and line["call_id"].startswith("members.activate.")
                  and line["emitted_event_id"]
                  and _is_latest_activation(line, members_lines)]
    event_id = recorded["emitted_event_id"]
    # The call's own line comes after its reply (nameko's worker_result): wait for it.
    call = wait_until(lambda: [line for line in log_lines(services["members"])
                               if line["logger"] == "ekraf.calls"
                               and line["call_id"] == recorded["call_id"]],
                      timeout=10, message="the activation's call line")
    assert call[0]["message"].startswith("rpc activate ok")
    assert call[0]["service"] == "members"
    # The client's call, then the activation: the stack a standalone proxy's call has.
    assert [call_id.rsplit(".", 1)[0] for call_id in call[0]["call_id_stack"]] == [
        "standalone_rpc_proxy.call", "members.activate"]
    assert call[0]["call_id_stack"][-1] == recorded["call_id"]
    for name in ("notifications", "certification", "events"):
        handled = wait_until(lambda: [
            line for line in log_lines(services[name]) if line["event_id"] == event_id
            and line["logger"] == "ekraf.calls"], timeout=15, message=f"{name}'s log line")
        assert handled[0]["service"] == name
        assert handled[0]["message"].startswith("message on_") and " ok " in handled[0]["message"]
    # No personal data in any of those lines: not the email, not the phone.
    for name in SERVICES:
        text = services[name].log()
        assert member["email"] not in text and member["phone"] not in text


def _is_latest_activation(line, lines):
    activations = [other for other in lines if other.get("event_type") == "member_activated"
                   and other["message"] == "message member_activated recorded"]
    return line is activations[-1]
