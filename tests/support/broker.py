"""The broker side of tests: vhosts of a test's own, outside subscribers, messages
published as another service would, dead-letter queues, raw AMQP calls, and a TCP
proxy that cuts one client off the broker."""
import json
import subprocess
import uuid
from contextlib import contextmanager
from urllib.parse import quote, urlsplit, urlunsplit

import eventlet
from nameko.containers import ServiceContainer
from nameko.events import event_handler

from shared.catalog import published_messages
from tests.support.waiting import wait_until

# Every message type each publisher sends, from the services' own catalog.
MEMBER_EVENTS, CERTIFICATE_EVENTS, EVENT_MESSAGES = (
    list(published_messages()[source]) for source in ("members", "certification", "events"))


class VhostPool:
    """RabbitMQ vhosts for tests that need a broker of their own, made a batch at a
    time by one ``rabbitmqctl eval`` (one Erlang VM start for several vhosts, not two
    commands each) and all deleted by one more at the end."""

    BATCH = 6

    def __init__(self, base_uri, run_id):
        self.base = urlsplit(base_uri)
        self.user = self.base.username or "guest"
        self.run_id = run_id
        self.free, self.made = [], []

    def take(self):
        """The URI of a new, empty vhost, its permissions given to the base login."""
        if not self.free:
            batch = [f"ekraf-{self.run_id}-{uuid.uuid4().hex[:8]}" for _ in range(self.BATCH)]
            _eval("[begin ok = rabbit_vhost:add(V, <<\"ekraf-tests\">>), "
                  "ok = rabbit_auth_backend_internal:set_permissions("
                  f"{_binary(self.user)}, V, <<\".*\">>, <<\".*\">>, <<\".*\">>, "
                  "<<\"ekraf-tests\">>) end || V <- " + _binaries(batch) + "], ok.")
            self.free.extend(batch)
            self.made.extend(batch)
        vhost = self.free.pop()
        return urlunsplit(self.base._replace(path="/" + quote(vhost, safe="")))

    def delete_all(self):
        if self.made:
            _eval("[rabbit_vhost:delete(V, <<\"ekraf-tests\">>) || V <- "
                  + _binaries(self.made) + "], ok.", check=False)
            self.made, self.free = [], []


def _binary(text):
    return "<<\"" + text.replace("\\", "\\\\").replace('"', '\\"') + "\">>"


def _binaries(texts):
    return "[" + ", ".join(_binary(text) for text in texts) + "]"


def _eval(expression, check=True):
    result = subprocess.run(["rabbitmqctl", "eval", expression], capture_output=True, text=True)
    if check and (result.returncode != 0 or result.stdout.strip() != "ok"):
        raise RuntimeError(f"rabbitmqctl eval failed: {result.stdout}{result.stderr}")


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


def publish_as(config, source_service, event_type, data, envelope=None):
    """Publish a message as another service would (as members, as events...); a given
    ``envelope`` is published again as it is (a redelivery)."""
    from nameko.standalone.events import event_dispatcher

    from shared.envelope import make_envelope

    envelope = envelope or make_envelope(source_service, event_type, data)
    event_dispatcher(config)(source_service, event_type, envelope)
    return envelope


def members_stopped(amqp_uri):
    """The members RPC queue with nobody consuming it: as after members stopped
    (its queue outlives it), so a call waits for the timeout."""
    from kombu import Connection, Exchange, Queue

    exchange = Exchange("nameko-rpc", type="topic", durable=True)
    with Connection(amqp_uri) as connection:
        Queue("rpc-members", exchange, routing_key="members.*", durable=True)(
            connection.default_channel).declare()


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
            except (ValueError, RecursionError):  # another test's hostile body
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


def raw_rpc(amqp_uri, routing_key, body, timeout, context_data=None):
    """Send ``body`` as it is (a str) to an RPC method, as a client in any language
    could (as the run's admin client unless ``context_data`` says otherwise: nameko
    sends each key as the header ``nameko.<key>``), and return the reply's ``error``
    (None when there is a result)."""
    from kombu import Connection, Exchange, Producer, Queue

    from tests.support.identities import admin_context

    context_data = admin_context() if context_data is None else context_data

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
            correlation_id=correlation_id,
            headers={f"nameko.{key}": value for key, value in context_data.items()})
        reply = wait_until(lambda: reply_queue.get(no_ack=True), timeout=timeout,
                           message=f"a reply from {routing_key} to {body[:60]!r}")
    assert reply.properties["correlation_id"] == correlation_id
    return json.loads(reply.body)["error"]



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


