"""One RabbitMQ login per service, with only the permissions it needs.

docker-compose gives RabbitMQ the users and permissions of
docker/rabbitmq/definitions.template.json (rendered by render-definitions.sh). Here
the same permissions, read from that file, are granted on the real broker in a vhost
of this test's own, the four services run under their own logins as operators start
them, and a whole flow works: so the permissions are enough. Then each login tries
what it must not do, and the broker refuses: so they are no more than needed. On
nameko-rpc that includes the topic permissions, the methods each login may call.
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
from amqp.exceptions import AccessRefused
from kombu import Connection, Exchange, Producer, Queue
from nameko.rpc import get_rpc_exchange
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy

from tests.support.broker import drain_queue
from tests.support.factories import event_data
from tests.support.identities import admin_context
from tests.support.services import running_services
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
RABBITMQ_DIR = ROOT / "docker" / "rabbitmq"
TEMPLATE = RABBITMQ_DIR / "definitions.template.json"
RENDER = RABBITMQ_DIR / "render-definitions.sh"
SERVICES = ("members", "certification", "events", "notifications")
PASSWORD_VARIABLES = ("RABBITMQ_ADMIN_PASSWORD",) + tuple(
    f"{name.upper()}_AMQP_PASSWORD" for name in SERVICES)


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
    # RPC calls are limited for the services; ekraf-admin has none, so may call anything.
    assert sorted((p["user"], p["exchange"]) for p in definitions["topic_permissions"]) == \
        sorted((name, "nameko-rpc") for name in SERVICES)


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
def granted_logins(infrastructure, vhost_pool):
    """Two vhosts of this module's own, each with the template's users (under names of
    this run), their permissions and topic permissions: one for the services, one to
    probe the logins in, where no service takes what a probe publishes. Yields
    {service: amqp url}, plus "ekraf-admin", for each vhost."""
    if vhost_pool is None:
        pytest.skip("needs rabbitmqctl to make users and a vhost")
    base = urlsplit(infrastructure[0])
    run = uuid.uuid4().hex[:8]
    vhosts = [unquote(urlsplit(vhost_pool.take()).path[1:]) for _ in range(2)]
    definitions = json.loads(TEMPLATE.read_text())
    names = {user["name"]: f"{user['name']}-{run}" for user in definitions["users"]}
    passwords = {user: secrets.token_hex(16) for user in names}

    def granted(kind):
        return [{**entry, "user": names[entry["user"]], "vhost": vhost}
                for vhost in vhosts for entry in definitions[kind]]

    # Imported as the broker container imports the rendered file at boot (the same
    # keys, the patterns exactly as written), in one rabbitmqctl start rather than one
    # per user and grant (each takes over a second). No tags: only AMQP is used here.
    ours = {"users": [{"name": names[user], "password": passwords[user], "tags": []}
                      for user in names],
            "permissions": granted("permissions"),
            "topic_permissions": granted("topic_permissions")}
    try:
        result = subprocess.run(["rabbitmqctl", "import_definitions", "--format", "json"],
                                input=json.dumps(ours), capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        yield [{user: urlunsplit(base._replace(
            netloc=f"{names[user]}:{passwords[user]}@{base.hostname}:{base.port or 5672}",
            path="/" + quote(vhost, safe=""))) for user in names} for vhost in vhosts]
    finally:
        users = ", ".join(f'<<"{name}">>' for name in names.values())
        subprocess.run(["rabbitmqctl", "eval", "[rabbit_auth_backend_internal:delete_user("
                        f'U, <<"ekraf-tests">>) || U <- [{users}]], ok.'], capture_output=True)


@pytest.fixture(scope="module")
def broker_logins(granted_logins):
    """{service: amqp url} in the services' vhost, plus "ekraf-admin"."""
    return granted_logins[0]


@pytest.fixture(scope="module")
def probe_logins(granted_logins):
    """The same logins in a vhost where no service runs."""
    return granted_logins[1]


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
    with ClusterRpcProxy(admin, context_data=admin_context(), timeout=30) as rpc:
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


def refusal(url, action):
    """The broker's refusal (403 ACCESS_REFUSED, a channel error) of ``action(channel)``
    for this login, or None when it lets the login do it."""
    with Connection(url) as connection:
        channel = connection.channel()
        try:
            action(channel)
            # A refused publish is reported asynchronously: a round-trip makes the
            # broker's answer arrive before we decide.
            channel.basic_qos(0, 1, False)
        except AccessRefused as error:
            return str(error)
    return None


def refused(url, action):
    """True when the broker refuses ``action(channel)`` for this login."""
    return refusal(url, action) is not None


def publish(exchange, routing_key):
    def action(channel):
        channel.confirm_select()
        Producer(channel).publish({"x": 1}, exchange=Exchange(exchange, "topic", passive=True),
                                  routing_key=routing_key, declare=[])
    return action


def test_a_service_login_cannot_touch_what_is_not_its_own(stack_with_own_logins,
                                                          broker_logins):
    members = broker_logins["members"]
    notifications = broker_logins["notifications"]

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


# The second wall: on nameko-rpc the routing key is the method called
# (<service>.<method>) or a caller's reply key (a UUID); the topic permissions say
# which keys each login may publish and bind. Every service login may write to and
# read from the exchange itself (its permissions), so only the topic permissions refuse.
RPC_EXCHANGE = get_rpc_exchange({}).name
CALLS_OF_OTHER_SERVICES = ("members.register", "members.activate", "events.create_event",
                           "certification.revoke", "notifications.list_inbox")
# A pattern left unanchored, or with an unescaped dot, would let these through.
NEAR_MISSES = ("members.get.all", "xmembers.get", "members_get", "membersXget")


@pytest.fixture(scope="module")
def rpc_exchange(probe_logins):
    """nameko-rpc, declared as the services declare it, in the vhost where no service
    runs: a request a probe may publish reaches nobody (members would take a bare one
    as a call)."""
    with Connection(probe_logins["ekraf-admin"]) as connection:
        get_rpc_exchange({})(connection.default_channel).declare()
    return RPC_EXCHANGE


def refused_key(url, action, key):
    """True when the broker refuses ``action`` for this routing or binding key."""
    answer = refusal(url, action)
    return answer is not None and f"access to topic '{key}' in exchange" in answer


def test_certification_may_call_members_get_and_nothing_else(probe_logins, rpc_exchange):
    certification = probe_logins["certification"]
    assert refusal(certification, publish(rpc_exchange, "members.get")) is None
    for key in CALLS_OF_OTHER_SERVICES + NEAR_MISSES:
        assert refused_key(certification, publish(rpc_exchange, key), key), key
    # The operators' login has no topic permissions: it may call anything.
    assert refusal(probe_logins["ekraf-admin"],
                   publish(rpc_exchange, "members.register")) is None


@pytest.mark.parametrize("service", ["events", "notifications"])
def test_the_other_callers_may_call_members_get_only(probe_logins, rpc_exchange, service):
    login = probe_logins[service]
    assert refusal(login, publish(rpc_exchange, "members.get")) is None
    for key in ("members.register", "members.activate", "certification.revoke"):
        assert refused_key(login, publish(rpc_exchange, key), key), (service, key)


def test_members_calls_nobody(probe_logins, rpc_exchange):
    members = probe_logins["members"]
    for key in ("certification.revoke", "events.create_event", "members.get"):
        assert refused_key(members, publish(rpc_exchange, key), key), key


def test_every_service_login_may_reply_to_a_caller(probe_logins, rpc_exchange):
    """A reply goes to nameko-rpc with the caller's reply key, str(uuid.uuid4())."""
    for service in SERVICES:
        assert refusal(probe_logins[service],
                       publish(rpc_exchange, str(uuid.uuid4()))) is None, service
    assert refused_key(probe_logins["members"], publish(rpc_exchange, "not-a-uuid"),
                       "not-a-uuid")


def test_each_service_login_binds_only_its_own_calls_and_replies(probe_logins,
                                                                 rpc_exchange):
    """A service's queue is bound with the literal key '<service>.*'; its reply queue
    with its reply key. Binding another service's key would copy that service's
    requests (their arguments) into the binder's queue."""
    def bind(key):
        def action(channel):
            # a queue each login may declare: a reply queue as the healthcheck's
            queue = channel.queue_declare(f"rpc.reply-standalone_rpc_proxy-{uuid.uuid4()}",
                                          exclusive=True).queue
            channel.queue_bind(queue, rpc_exchange, key)
        return action

    for service in SERVICES:
        login = probe_logins[service]
        assert refusal(login, bind(f"{service}.*")) is None, service
        assert refusal(login, bind(str(uuid.uuid4()))) is None, service
    certification = probe_logins["certification"]
    for key in ("members.*", "members.get", "#", "certification.#", "certification.issue"):
        assert refused_key(certification, bind(key), key), key


def test_the_compose_healthcheck_passes_under_each_services_own_login(stack_with_own_logins,
                                                                       broker_logins,
                                                                       base_config):
    """docker-compose runs `python -m shared.health <service>` in each container, with
    that container's environment: its own login must be enough to ask (so each may
    call its own <service>.health too)."""
    for name in SERVICES:
        result = subprocess.run(
            [sys.executable, "-m", "shared.health", name], cwd=ROOT, capture_output=True,
            text=True, timeout=60,
            env={**os.environ, "AMQP_URI": broker_logins[name], "PYTHONWARNINGS": "ignore",
                 # It calls under a short-lived identity of its own in the registry.
                 "REGISTRY_DB_URL": base_config["REGISTRY_DB_URL"]})
        assert result.returncode == 0, (name, result.stdout, result.stderr)
        report = json.loads(result.stdout)
        assert report["status"] == "ok" and isinstance(report["dead_letters"], int), report
