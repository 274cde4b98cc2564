"""3. The outbox relay: 10,000 committed messages waiting, the broker back: time
until all are confirmed. Baselines in the same run: raw kombu publishing with
confirms, and nameko's own per-message dispatch."""
import json
import time
import uuid

import sqlalchemy as sa
from kombu import Connection, Exchange, Producer, Queue
from nameko.standalone.events import event_dispatcher

from bench.report import table
from shared.envelope import make_envelope
from shared.outbox import OutboxRelay
from shared.tables import foundation_metadata, outbox_messages
from shared.timeutil import utcnow_precise


def _envelopes(count):
    return [make_envelope("benchrelay", "thing_happened", {"id": str(uuid.uuid4()), "n": n})
            for n in range(count)]


def _bound_queue(config, exchange_name):
    """A durable queue bound to the exchange, so each message is really routed and
    stored, as it is for a subscribed service."""
    exchange = Exchange(exchange_name, "topic", durable=True)
    queue = Queue(f"bench-{exchange_name}-{uuid.uuid4().hex[:6]}", exchange, routing_key="#",
                  durable=True, auto_delete=False)
    with Connection(config["AMQP_URI"]) as connection:
        queue(connection.default_channel).declare()
    return queue


def _delete(config, queue):
    with Connection(config["AMQP_URI"]) as connection:
        queue(connection.default_channel).delete()


def relay_rate(stack, count):
    # A database of its own: a running service's relay must not take these rows.
    if "benchrelay" not in stack.engines:
        stack.database("benchrelay")
        foundation_metadata.create_all(stack.engines["benchrelay"])
    engine = stack.engines["benchrelay"]
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM outbox_messages"))
        rows = [{"event_id": e["event_id"], "event_type": e["event_type"],
                 "payload": json.dumps(e), "created_at": utcnow_precise(),
                 "publish_attempts": 0} for e in _envelopes(count)]
        connection.execute(outbox_messages.insert(), rows)
    queue = _bound_queue(stack.config, "benchrelay.events")
    relay = OutboxRelay(engine, stack.amqp_uri, "benchrelay")
    started = time.monotonic()
    while relay.relay_once():
        pass
    elapsed = time.monotonic() - started
    relay._disconnect()
    left = stack.scalar("benchrelay", "SELECT count(*) FROM outbox_messages "
                                      "WHERE sent_at IS NULL")
    _delete(stack.config, queue)
    return count / elapsed, elapsed, left


def kombu_rate(stack, count):
    queue = _bound_queue(stack.config, "benchkombu.events")
    exchange = Exchange("benchkombu.events", "topic", durable=True)
    envelopes = _envelopes(count)
    with Connection(stack.amqp_uri, transport_options={"confirm_publish": True}) as connection:
        producer = Producer(connection.default_channel)
        started = time.monotonic()
        for envelope in envelopes:
            producer.publish(envelope, exchange=exchange, routing_key="thing_happened",
                             delivery_mode=2, serializer="json")
        elapsed = time.monotonic() - started
    _delete(stack.config, queue)
    return count / elapsed, elapsed


def nameko_rate(stack, count):
    queue = _bound_queue(stack.config, "benchnameko.events")
    dispatch = event_dispatcher(stack.config)
    envelopes = _envelopes(count)
    started = time.monotonic()
    for envelope in envelopes:
        dispatch("benchnameko", "thing_happened", envelope)
    elapsed = time.monotonic() - started
    _delete(stack.config, queue)
    return count / elapsed, elapsed


def run(stack, smoke):
    count = 300 if smoke else 10_000
    baseline_count = 300 if smoke else 3_000
    relay, relay_seconds, left = relay_rate(stack, count)
    kombu, kombu_seconds = kombu_rate(stack, baseline_count)
    nameko, nameko_seconds = nameko_rate(stack, baseline_count)
    rows = [
        ("outbox relay (batches of 500, confirms)", count, relay_seconds, relay, 1.0),
        ("raw kombu, a confirm per message", baseline_count, kombu_seconds, kombu, relay / kombu),
        ("nameko event_dispatcher per message", baseline_count, nameko_seconds, nameko,
         relay / nameko),
    ]
    notes = [f"Relay: {count:,} rows committed in a database of its own, then relayed by "
             f"shared.outbox.OutboxRelay to a bound durable queue; {left} left unsent.",
             "Targets: >= 2,000 messages/s, and >= 2x nameko's per-message dispatch."]
    text = table("Outbox relay", ["publisher", "messages", "seconds", "messages/s",
                                  "relay is x faster"], rows, notes)
    return text, {"relay": relay, "kombu": kombu, "nameko": nameko}
