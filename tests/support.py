"""Helpers for tests that drive real services."""
import json
import os
import signal
from collections import namedtuple
from contextlib import contextmanager
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import eventlet
import pytest
import sqlalchemy as sa
from nameko.containers import ServiceContainer
from nameko.events import event_handler
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from shared.errors import ContractError

REPO_ROOT = Path(__file__).resolve().parent.parent
RaisedError = namedtuple("RaisedError", "exc_type value")
NAMEKO = str(Path(sys.executable).parent / "nameko")


def wait_until(predicate, timeout=15.0, interval=0.05, message="condition"):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        eventlet.sleep(interval)


class ServiceProcess:
    """A service started as operators start it: ``nameko run --config config.yml ...``."""

    def __init__(self, module, env, log_path):
        self.module = module
        self.env = env
        self.log_path = log_path
        self.process = None

    def start(self):
        env = {**os.environ, "PYTHONWARNINGS": "ignore", **self.env}
        self.log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [NAMEKO, "run", "--config", "config.yml", self.module],
            cwd=REPO_ROOT, env=env, stdout=self.log_file, stderr=subprocess.STDOUT,
        )
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()

    def restart(self, **env_changes):
        """Stop, then start again with some settings changed (as an operator would)."""
        self.stop()
        self.env = {**self.env, **env_changes}
        return self.start()

    @property
    def name(self):
        """The service's name: ``members`` for ``services.members.service``."""
        return self.module.split(".")[1]

    def log(self):
        return Path(self.log_path).read_text(errors="replace")


def free_port():
    """A TCP port on loopback that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# A method each service answers without arguments: what wait_for_rpc calls by default.
PROBES = {"members": "list_subsectors", "certification": "list_schemes",
          "events": "list_events", "notifications": "delivery_counts"}


def service_env(name, amqp_uri, db_url, var_dir, smtp_port=None, **settings):
    """The environment a service is started with by the tests and benchmarks: its
    broker, its database and var folder; certification's public HTTP on a free port,
    notifications' SMTP server; then ``settings``."""
    env = {"AMQP_URI": amqp_uri, "VAR_DIR": str(var_dir), f"{name.upper()}_DB_URL": db_url}
    if name == "certification":
        env["WEB_SERVER_ADDRESS"] = "127.0.0.1:0"
    if name == "notifications" and smtp_port is not None:
        env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port))
    return {**env, **settings}


def wait_for_rpc(config, service, method=None, timeout=60):
    """Wait until ``service`` answers RPC (it has migrated and started); ``method``
    defaults to the service's entry in PROBES."""
    method = method or PROBES[service]

    def answers():
        try:
            with ClusterRpcProxy(config, timeout=2) as proxy:
                getattr(getattr(proxy, service), method)()
            return True
        except Exception:
            return False

    wait_until(answers, timeout=timeout, interval=0.5, message=f"{service} to answer RPC")


@contextmanager
def running_service(name, config, db_url, folder, **settings):
    """``name`` started as operators start it, on ``config``'s broker (a vhost of a
    test's own, say), its database at ``db_url``, its var/ and log in ``folder``;
    stopped at the end. Handlers retry on ``config``'s short schedule."""
    env = service_env(name, config["AMQP_URI"], db_url, folder,
                      HANDLER_RETRY_DELAYS_MS=str(config["HANDLER_RETRY_DELAYS_MS"]), **settings)
    process = ServiceProcess(f"services.{name}.service", env,
                             Path(folder) / f"{name}.log").start()
    try:
        try:
            wait_for_rpc(config, name)
        except AssertionError:
            raise AssertionError(f"{name} did not start:\n" + process.log()[-3000:]) from None
        yield process
    finally:
        process.stop()


@contextmanager
def service_alone(name, config, make_database, folder):
    """``(rpc, database engine, process)``: ``name`` with no members service on
    ``config``'s vhost and RPC_TIMEOUT_SECONDS=1, for what it does when members
    does not answer."""
    db_url = make_database(f"{name}_alone")
    engine = sa.create_engine(db_url)
    try:
        with running_service(name, config, db_url, folder, RPC_TIMEOUT_SECONDS="1") as process, \
                ClusterRpcProxy(config, timeout=15) as rpc:
            yield rpc, engine, process
    finally:
        engine.dispose()


def members_stopped(amqp_uri):
    """The members RPC queue with nobody consuming it: as after members stopped
    (its queue outlives it), so a call waits for the timeout."""
    from kombu import Connection, Exchange, Queue

    exchange = Exchange("nameko-rpc", type="topic", durable=True)
    with Connection(amqp_uri) as connection:
        Queue("rpc-members", exchange, routing_key="members.*", durable=True)(
            connection.default_channel).declare()


def view_status(engine, member_id):
    """The member's status in a service's member view, or None if it has none."""
    with engine.connect() as connection:
        return connection.execute(sa.text(
            "SELECT status FROM member_views WHERE member_id = :id"), {"id": member_id}).scalar()


def timed_error(call, *args):
    """``(remote_error(call, *args), seconds the call took)``."""
    started = time.monotonic()
    error = remote_error(call, *args)
    return error, time.monotonic() - started


def member_record(status="active", **overrides):
    """A member record as the members service sends it, for feeding a service's
    member view without a members service."""
    now = datetime.now(timezone.utc).isoformat()
    tag = uuid.uuid4().hex[:8]
    record = {"id": str(uuid.uuid4()), "member_number": None,
              "full_name": f"Anggota {tag}", "email": f"anggota.{tag}@example.id",
              "phone": "0812-5400-7788", "city": "Balikpapan", "province": "Kalimantan Timur",
              "subsector": "kuliner", "business_name": None, "nib": None, "locale": "id",
              "status": status, "active_since": None, "valid_until": None,
              "created_at": now, "updated_at": now}
    record.update(overrides)
    return record


def publish_as(config, source_service, event_type, data, envelope=None):
    """Publish a message as another service would (as members, as events...); a given
    ``envelope`` is published again as it is (a redelivery)."""
    from nameko.standalone.events import event_dispatcher

    from shared.envelope import make_envelope

    envelope = envelope or make_envelope(source_service, event_type, data)
    event_dispatcher(config)(source_service, event_type, envelope)
    return envelope


def feed_member_view(config, engine):
    """``(suspended, active)``: two member records published as members would, once a
    service's member view (``engine``) holds both."""
    suspended, active = member_record("suspended"), member_record("active")
    publish_as(config, "members", "member_suspended", suspended)
    publish_as(config, "members", "member_activated", active)
    wait_until(lambda: view_status(engine, suspended["id"]) == "suspended"
               and view_status(engine, active["id"]) == "active", message="the view fed")
    return suspended, active


def times_skipped_as_applied(service, handler, envelope):
    """How often ``service`` (a ServiceProcess) logged that ``handler`` received this
    message again and skipped it (shared.handlers: "<service>.<handler> already
    applied ...")."""
    return service.log().count(f"{service.name}.{handler} already applied "
                               f"{envelope['event_type']} {envelope['event_id']}; skipping")


class MessageLog:
    """What an outside subscriber received, keyed by event type."""

    def __init__(self):
        self.messages = []

    def record(self, payload):
        self.messages.append(payload)

    def of_type(self, event_type, **data_match):
        return [m for m in self.messages if m.get("event_type") == event_type
                and all(m["data"].get(k) == v for k, v in data_match.items())]

    def wait_for(self, event_type, count=1, timeout=15, **data_match):
        return wait_until(
            lambda: len(self.of_type(event_type, **data_match)) >= count
            and self.of_type(event_type, **data_match),
            timeout=timeout, message=f"{count} {event_type} {data_match or ''}")


def subscriber_class(source_service, event_types, message_log, name="outside_subscriber"):
    """A plain nameko service, as another team would write it, recording messages."""
    attrs = {"name": name}
    for event_type in event_types:
        def handler(self, payload, _log=message_log):
            _log.record(payload)
        handler.__name__ = f"on_{event_type}"
        attrs[handler.__name__] = event_handler(source_service, event_type)(handler)
    return type("OutsideSubscriber", (), attrs)


@contextmanager
def listening(config, source_service, event_types, name="outside_subscriber"):
    """A MessageLog of ``source_service``'s messages on ``config``'s broker: its
    subscriber is started (its queues declared) before the block runs."""
    message_log = MessageLog()
    container = ServiceContainer(
        subscriber_class(source_service, event_types, message_log, name=name), config)
    container.start()
    try:
        yield message_log
    finally:
        container.stop()


class TcpProxy:
    """A TCP forwarder on loopback that a test can cut and restore, to take a
    broker away from one client without stopping it for everyone else."""

    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.listener = eventlet.listen(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = set()
        self.pipes = set()
        self.up = True
        self._server = eventlet.spawn(self._serve)

    def _serve(self):
        while True:
            client, _ = self.listener.accept()
            if not self.up:
                client.close()
                continue
            try:
                upstream = eventlet.connect(self.target)
            except OSError:
                client.close()
                continue
            pair = (client, upstream)
            self.connections.add(pair)
            ended = []
            for source, sink in ((client, upstream), (upstream, client)):
                pipe = eventlet.spawn(self._pipe, source, sink, pair, ended)
                self.pipes.add(pipe)
                pipe.link(self.pipes.discard)

    def _pipe(self, source, sink, pair, ended):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except (OSError, EOFError):
            pass
        finally:
            self._end(pair, ended)

    def _end(self, pair, ended):
        """One direction is over: wake the other (shutdown, so its recv sees EOF) and
        close the sockets once both have stopped. Closing a socket that another green
        thread still waits on would leave that wait registered in eventlet's hub, and
        the next non-green user of the same file descriptor number (a psycopg2
        connection, say) would fail with "Second simultaneous read"."""
        ended.append(True)
        self._shutdown(pair)
        if len(ended) < 2:
            return
        self.connections.discard(pair)
        for sock in pair:
            try:
                sock.close()
            except OSError:
                pass

    @staticmethod
    def _shutdown(pair):
        # shutdown, not close: the pipes blocked in recv see EOF and close both ends.
        import socket

        for sock in pair:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        """Drop every connection and refuse new ones, as if the broker were gone."""
        self.up = False
        for pair in list(self.connections):
            self._shutdown(pair)

    def restore(self):
        self.up = True

    def close(self):
        """Stop everything, pipes included: a green thread left waiting on a closed
        socket would confuse whoever gets its file descriptor number next."""
        self.cut()
        for pipe in list(self.pipes):
            pipe.kill()
        self._server.kill()
        self.listener.close()


def drain_queue(amqp_uri, queue_name, limit=10_000):
    """Take every message waiting in a queue: a list of (body, headers)."""
    from kombu import Connection

    taken = []
    with Connection(amqp_uri) as connection:
        channel = connection.default_channel
        while len(taken) < limit:
            message = channel.basic_get(queue=queue_name, no_ack=True)
            if message is None:
                break
            taken.append((message.body, dict(message.headers or {})))
    return taken


def remote_error(call, *args):
    """The error a call raised, as (exc_type, value), whether or not the client
    could map it to a local class (it can here: shared.errors is importable)."""
    with pytest.raises((RemoteError, ContractError)) as caught:
        call(*args)
    error = caught.value
    if isinstance(error, RemoteError):
        return RaisedError(error.exc_type, error.value)
    return RaisedError(type(error).__name__, str(error))


def validation_fields(call, *args):
    error = remote_error(call, *args)
    assert error.exc_type == "ValidationError", (error.exc_type, error.value)
    return json.loads(error.value)


def names_field(errors, field):
    """Whether a ValidationError's fields include ``field`` (or a part of it: ``units.0``)."""
    return any(key == field or key.startswith(field + ".") for key in errors)


def outcome_of(call, *args):
    """``"ok"``, or the name of the error a call raised: for polling with wait_until."""
    try:
        call(*args)
        return "ok"
    except RemoteError as error:
        return error.exc_type
    except ContractError as error:
        return type(error).__name__


class SmtpServer:
    """A real SMTP server (aiosmtpd) in its own process, keeping mail in a Maildir."""

    def __init__(self, folder, port):
        # A path that does not exist yet: the server creates the Maildir there.
        self.maildir, self.port = folder / "Maildir", port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
             "-c", "aiosmtpd.handlers.Mailbox", str(self.maildir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, timeout=15, message="the SMTP server")

    def _answers(self):
        try:
            eventlet.connect(("127.0.0.1", self.port)).close()
            return True
        except OSError:
            return False

    def messages(self, to=None):
        import mailbox

        if not (self.maildir / "cur").exists():
            return []
        found = list(mailbox.Maildir(str(self.maildir), create=False))
        return [m for m in found if to is None or to in m["To"]]

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


def parked_message(config, event_id, queue, timeout=15, matches=None):
    """``(envelope, headers)`` of the message ``event_id`` once it is in the dead-letter
    ``queue`` (other parked messages taken on the way are dropped). For a message
    without an event_id, ``matches(envelope)`` picks it instead."""
    if matches is None:
        def matches(envelope):
            return envelope.get("event_id") == event_id

    def parked():
        for body, headers in drain_queue(config["AMQP_URI"], queue):
            try:
                envelope = json.loads(body)
            except ValueError:
                continue
            if isinstance(envelope, dict) and matches(envelope):
                return envelope, headers
        return None

    return wait_until(parked, timeout=timeout,
                      message=f"message {event_id or '(matched)'} parked in {queue}")


def parked_at_first_attempt(config, envelope, queue, error):
    """The headers of ``envelope`` once parked in ``queue``: as it was sent, at the
    first attempt (never retried), with ``error`` as its reason."""
    from shared.handlers import ATTEMPTS_HEADER, ERROR_HEADER

    parked, headers = parked_message(config, envelope["event_id"], queue)
    assert parked == envelope
    assert headers[ATTEMPTS_HEADER] == 1, headers
    assert headers[ERROR_HEADER] == error, headers
    return headers


def raw_rpc(amqp_uri, routing_key, body, timeout):
    """Send ``body`` as it is (a str) to an RPC method, as a client in any language
    could, and return the reply's ``error`` (None when there is a result)."""
    from kombu import Connection, Exchange, Producer, Queue

    marker = uuid.uuid4().hex
    exchange = Exchange("nameko-rpc", "topic", durable=True)
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        reply_queue = Queue(f"raw-reply-{marker}", exchange, routing_key=f"raw-{marker}",
                            exclusive=True, auto_delete=True, channel=channel)
        reply_queue.declare()
        correlation_id = str(uuid.uuid4())
        Producer(channel).publish(
            body, exchange=exchange, routing_key=routing_key, content_type="application/json",
            content_encoding="utf-8", serializer=None, reply_to=f"raw-{marker}",
            correlation_id=correlation_id)
        reply = wait_until(lambda: reply_queue.get(no_ack=True), timeout=timeout,
                           message=f"a reply from {routing_key} to {body[:60]!r}")
    assert reply.properties["correlation_id"] == correlation_id
    return json.loads(reply.body)["error"]


class FakeSmsGateway:
    """An HTTP server standing in for the SMS gateway: it records each request (and
    when it arrived, in ``arrived``, a ``time.monotonic()`` per request) and answers 503 to the first ``failures[phone]`` requests for a phone number, after
    ``delays[phone]`` seconds (a slow gateway)."""

    def __init__(self):
        from eventlet import wsgi

        self.requests, self.failures, self.answered, self.delays = [], {}, {}, {}
        self.arrived = []
        self.listener = eventlet.listen(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/sms"
        self.server = eventlet.spawn(wsgi.server, self.listener, self.app,
                                     log_output=False, log=open(os.devnull, "w"))

    def app(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
        self.arrived.append(time.monotonic())
        self.requests.append(payload)
        phone = payload.get("to")
        eventlet.sleep(self.delays.get(phone, 0))
        self.answered[phone] = self.answered.get(phone, 0) + 1
        if self.answered[phone] <= self.failures.get(phone, 0):
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"error": "busy"}']
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"status": "queued"}']

    def sent_to(self, phone):
        return [r for r in self.requests if r.get("to") == phone]

    def arrival_times(self, phone):
        return [at for request, at in zip(self.requests, self.arrived) if request.get("to") == phone]

    def stop(self):
        self.server.kill()
        self.listener.close()


class PostgresCluster:
    """A PostgreSQL cluster of a test's own, on a free port, that the test may stop and
    start (the machine's server is shared by every test and must stay up).

    Runs the machine's server binaries as the ``postgres`` user, so it needs root; a
    test that cannot have one is skipped."""

    def __init__(self, host_auth="trust"):
        import shutil
        import socket
        import tempfile

        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not versions or shutil.which("runuser") is None or os.geteuid() != 0:
            pytest.skip("needs PostgreSQL's server binaries and root (to run them as postgres)")
        self.binaries = versions[-1].parent
        # Outside pytest's own temp folder, which only root may enter.
        self.folder = Path(tempfile.mkdtemp(prefix="ekraf-pg-cluster-"))
        self.data = self.folder / "data"
        shutil.chown(self.folder, "postgres", "postgres")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        # Trust for the superuser over the socket; TCP as asked (passwords or trust).
        self.as_postgres(str(self.binaries / "initdb"), "-D", str(self.data), "-U", "postgres",
                         "--auth-local=trust", f"--auth-host={host_auth}")
        self.start()

    def as_postgres(self, *command, **kwargs):
        return subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True,
                              capture_output=True, **kwargs)

    def pg_ctl(self, *args):
        return self.as_postgres(str(self.binaries / "pg_ctl"), "-D", str(self.data), *args)

    def start(self):
        self.pg_ctl("-w", "-l", str(self.folder / "log"), "-o",
                    f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1", "start")

    def stop(self, mode="fast"):
        """``fast``: disconnect every client and shut down cleanly (a restart);
        ``immediate``: as if the server crashed."""
        self.pg_ctl("-m", mode, "-w", "stop")

    def psql(self, sql):
        return self.as_postgres("psql", "-h", str(self.folder), "-p", str(self.port),
                                "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql)

    def create_database(self, name):
        self.psql(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def destroy(self):
        import shutil

        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.folder, ignore_errors=True)
