"""One RabbitMQ login per service, with only the permissions it needs.

docker-compose gives RabbitMQ the users and permissions of
docker/rabbitmq/definitions.template.json (rendered by render-definitions.sh). Here
the same permissions, read from that file, are granted on the real broker in a vhost
of this test's own, the four services run under their own logins as operators start
them, and a whole flow works: so the permissions are enough. Then each login tries
what it must not do, and the broker refuses: so they are no more than needed.
"""
import json
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pytest
from kombu import Connection, Exchange, Producer, Queue
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy

from tests.support.broker import drain_queue
from tests.support.factories import event_data
from tests.support.services import running_services
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
RABBITMQ_DIR = ROOT / "docker" / "rabbitmq"
TEMPLATE = RABBITMQ_DIR / "definitions.template.json"
RENDER = RABBITMQ_DIR / "render-definitions.sh"
SERVICES = ("members", "certification", "events", "notifications")
PASSWORD_VARIABLES = ("RABBITMQ_ADMIN_PASSWORD",) + tuple(
    f"{name.upper()}_AMQP_PASSWORD" for name in SERVICES)


def rabbitmqctl(*args):
    return subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, text=True)


def render(tmp_path, **env):
    output = tmp_path / "definitions.json"
    result = subprocess.run(["sh", str(RENDER), str(TEMPLATE), str(output)],
                            env={"PATH": os.environ["PATH"], **env},
                            capture_output=True, text=True)
    return result, output


def test_the_definitions_render_with_the_passwords_from_the_environment(tmp_path):
    passwords = {variable: secrets.token_hex(12) for variable in PASSWORD_VARIABLES}
    result, output = render(tmp_path, **passwords)
    assert result.returncode == 0, result.stderr
    definitions = json.loads(output.read_text())
    users = {user["name"]: user for user in definitions["users"]}
    assert set(users) == {"ekraf-admin", *SERVICES}  # and no guest
    assert users["members"]["password"] == passwords["MEMBERS_AMQP_PASSWORD"]
    assert users["ekraf-admin"]["password"] == passwords["RABBITMQ_ADMIN_PASSWORD"]
    assert "@" not in output.read_text()
    assert oct(output.stat().st_mode & 0o777) == "0o600"  # passwords: owner only
    assert {p["user"] for p in definitions["permissions"]} == set(users)


@pytest.mark.parametrize("problem", ["missing", "not url-safe"])
def test_the_definitions_are_not_rendered_without_a_safe_password(tmp_path, problem):
    passwords = {variable: secrets.token_hex(12) for variable in PASSWORD_VARIABLES}
    if problem == "missing":
        del passwords["EVENTS_AMQP_PASSWORD"]
    else:
        passwords["EVENTS_AMQP_PASSWORD"] = 'p@ss"word'
    result, output = render(tmp_path, **passwords)
    assert result.returncode != 0
    assert "EVENTS_AMQP_PASSWORD" in result.stderr
    assert not output.exists()


@pytest.fixture(scope="module")
def broker_logins(infrastructure, vhost_pool):
    """A vhost of this module's own, with the template's users (under names of this
    run) and their permissions. Yields {service: amqp url}, plus "ekraf-admin"."""
    if vhost_pool is None:
        pytest.skip("needs rabbitmqctl to make users and a vhost")
    base = urlsplit(infrastructure[0])
    run = uuid.uuid4().hex[:8]
    vhost = unquote(urlsplit(vhost_pool.take()).path[1:])
    definitions = json.loads(TEMPLATE.read_text())
    users, urls = [], {}
    try:
        for permission in definitions["permissions"]:
            name = f"{permission['user']}-{run}"
            password = secrets.token_hex(16)
            rabbitmqctl("add_user", name, password)
            users.append(name)
            rabbitmqctl("set_permissions", "-p", vhost, name, permission["configure"],
                        permission["write"], permission["read"])
            urls[permission["user"]] = urlunsplit(base._replace(
                netloc=f"{name}:{password}@{base.hostname}:{base.port or 5672}",
                path="/" + quote(vhost, safe="")))
        yield urls
    finally:
        for name in users:
            subprocess.run(["rabbitmqctl", "delete_user", name], capture_output=True)


@pytest.fixture(scope="module")
def stack_with_own_logins(broker_logins, make_database, base_config, smtp_server,
                          tmp_path_factory):
    folder = tmp_path_factory.mktemp("own-logins")
    admin = {**base_config, "AMQP_URI": broker_logins["ekraf-admin"]}
    with running_services(SERVICES, admin, folder,
                          lambda name: make_database(f"logins_{name}_{uuid.uuid4().hex[:4]}"),
                          amqp_uri=broker_logins, smtp_port=smtp_server.port,
                          settings={"HANDLER_RETRY_DELAYS_MS": "100"}) as processes:
        yield admin, list(processes.values())


def test_every_service_works_under_its_own_login(stack_with_own_logins):
    admin, processes = stack_with_own_logins
    with ClusterRpcProxy(admin, timeout=30) as rpc:
        member = rpc.members.register({
            "full_name": "Anggota Berizin", "email": f"izin.{uuid.uuid4().hex[:8]}@example.id",
            "phone": "081234500011", "city": "Balikpapan", "subsector": "kuliner"})
        rpc.members.activate(member["id"])
        event = rpc.events.create_event(event_data(kind="training", capacity=5))
        rpc.events.publish_event(event["id"])
        # events learns of the member from members' messages, or asks members by RPC
        # (its reply queue, its own login) when it has not heard yet.
        registration = rpc.events.register(event["id"], member["id"])
        assert registration["status"] == "confirmed"
        rpc.events.check_in(event["id"], member["id"])
        # notifications heard members and events; it wrote each notice.
        wait_until(lambda: {n["event_type"] for n in rpc.notifications.list_inbox(
            member["id"])["items"]} >= {"member_registered", "member_activated",
                                        "registration_confirmed"},
                   timeout=30, message="notices from members' and events' messages")
    assert all(process.process.poll() is None for process in processes)
    for process in processes:
        assert "ACCESS_REFUSED" not in process.log(), process.module


def test_a_failing_message_is_parked_under_the_services_own_login(stack_with_own_logins,
                                                                   broker_logins):
    """Retry and dead-letter queues are published to through the default exchange:
    the service's own login may do that."""
    admin, _ = stack_with_own_logins
    event_dispatcher(admin)("members", "member_registered", {"not": "an envelope"})
    wait_until(lambda: drain_queue(broker_logins["ekraf-admin"],
                                   "notifications.dead-letter"),
               timeout=30, message="the malformed message in notifications' dead-letter queue")


def refused(url, action):
    """True when the broker refuses ``action(channel)`` for this login."""
    with Connection(url) as connection:
        channel = connection.channel()
        try:
            action(channel)
            # A refused publish is reported asynchronously: a confirm round-trip
            # makes the broker's answer arrive before we decide.
            channel.basic_qos(0, 1, False)
        except Exception as error:  # amqp.exceptions.AccessRefused, a channel error
            return "ACCESS_REFUSED" in str(error) or "access" in str(error).lower()
    return False


def test_a_service_login_cannot_touch_what_is_not_its_own(stack_with_own_logins,
                                                          broker_logins):
    members = broker_logins["members"]
    notifications = broker_logins["notifications"]

    def publish(exchange, routing_key):
        def action(channel):
            channel.confirm_select()
            Producer(channel).publish({"x": 1}, exchange=Exchange(exchange, "topic",
                                                                  passive=True),
                                      routing_key=routing_key, declare=[])
        return action

    def consume(queue):
        return lambda channel: channel.basic_consume(queue, callback=lambda m: None)

    def declare(queue):
        return lambda channel: Queue(queue, channel=channel).declare()

    # Members may not pretend to be certification, nor read anyone's queues.
    assert refused(members, publish("certification.events", "certificate_issued"))
    assert refused(members, consume("notifications.dead-letter"))
    assert refused(members, consume("rpc-certification"))
    assert refused(members, declare("anything-at-all"))
    # Notifications listens to members' messages but may not publish them.
    assert refused(notifications, publish("members.events", "member_activated"))
    assert refused(notifications, consume("rpc-members"))
    # ...while what it needs is allowed: a control that the checks above can pass.
    assert not refused(members, publish("members.events", "member_updated"))


def test_the_compose_healthcheck_passes_under_each_services_own_login(stack_with_own_logins,
                                                                       broker_logins):
    """docker-compose runs `python -m shared.health <service>` in each container, with
    that container's environment: its own login must be enough to ask."""
    for name in SERVICES:
        result = subprocess.run(
            [sys.executable, "-m", "shared.health", name], cwd=ROOT, capture_output=True,
            text=True, timeout=60,
            env={**os.environ, "AMQP_URI": broker_logins[name], "PYTHONWARNINGS": "ignore"})
        assert result.returncode == 0, (name, result.stdout, result.stderr)
        report = json.loads(result.stdout)
        assert report["status"] == "ok" and isinstance(report["dead_letters"], int), report
