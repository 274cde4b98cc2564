"""Transactional outbox: a message is stored with the change, then relayed.

``Outbox`` (a nameko dependency) writes the message into ``outbox_messages`` in
the worker's own database transaction, so a committed change always has its
message and a rolled-back one never does. ``OutboxRelay`` (one green thread per
service process) publishes pending rows to the service's events exchange,
``<service>.events``, routing key = event type: exactly what nameko's own
``EventDispatcher`` produces, so any ``@event_handler`` receives them unchanged.

The relay publishes in id order, in batches on one confirm-mode channel, and
marks a row sent only once the broker has confirmed it and every row before it. It is woken right after
a commit that added messages, polls every few seconds besides (to catch rows
committed by another process, or left while the broker was away), and backs off
while the broker or the database is unreachable. On PostgreSQL an advisory lock
makes one relay at a time publish a given service's outbox, so two instances
never interleave or double-publish. Sent rows are pruned after a retention period.
"""
import json
import logging
import socket
import time
from datetime import timedelta

import amqp
import eventlet
from eventlet.queue import Empty, Full, LightQueue
from kombu import Connection
from nameko.extensions import DependencyProvider
from sqlalchemy import delete, func, insert, select, update

from shared.audit import caller_of, note_touched
from shared.db import find_database, is_postgres, write_at_commit
from shared.envelope import make_envelope
from shared.migrations import advisory_lock_key
from shared.settings import settings_of
from shared.tables import outbox_messages, processed_messages
from shared.timeutil import utcnow

log = logging.getLogger(__name__)


def events_exchange(service_name):
    return f"{service_name}.events"


_INSERT_MESSAGE = insert(outbox_messages)  # values as parameters: one cached statement


def _message_row(envelope):
    return {"event_id": envelope["event_id"], "event_type": envelope["event_type"],
            "payload": json.dumps(envelope, ensure_ascii=False, separators=(",", ":")),
            "created_at": utcnow()}


def add_message(session, producer, event_type, data, actor=None):
    """Store one message in the session's transaction now; return its envelope."""
    envelope = make_envelope(producer, event_type, data, actor=actor)
    session.execute(_INSERT_MESSAGE, _message_row(envelope))
    return envelope


class PublishFailed(Exception):
    pass


def confirmed_in_order(tags_in_order, acked_tags):
    """The leading run of acked delivery tags: what may be marked sent.

    A row after a nacked or unconfirmed one stays pending even if it was acked, so
    that it is published again after the failed one: a duplicate (which consumers
    absorb), never a reordering.
    """
    prefix = []
    for tag in tags_in_order:
        if tag not in acked_tags:
            break
        prefix.append(tag)
    return prefix


class OutboxRelay:
    """Moves committed outbox rows to RabbitMQ, in order, with publisher confirms."""

    def __init__(self, engine, amqp_uri, service_name, batch_size=500, poll_interval=2.0,
                 retention=timedelta(days=7), processed_retention=timedelta(days=30),
                 confirm_timeout=10.0, max_backoff=15.0, prune_interval=600.0):
        self.engine = engine
        self.amqp_uri = amqp_uri
        self.service_name = service_name
        self.exchange = events_exchange(service_name)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.retention = retention
        self.processed_retention = processed_retention
        self.prune_interval = prune_interval
        self.confirm_timeout = confirm_timeout
        self.max_backoff = max_backoff
        self.lock_key = advisory_lock_key(f"outbox:{service_name}")
        self._wake = LightQueue(maxsize=1)
        self._stopping = False
        self._connection = None
        self._channel = None
        self._next_tag = 1
        self._last_prune = 0.0

    # -- control -------------------------------------------------------------

    def wake(self):
        try:
            self._wake.put_nowait(True)
        except Full:
            pass

    def stop(self):
        self._stopping = True
        self.wake()

    def _wait(self, seconds):
        try:
            self._wake.get(timeout=seconds)
        except Empty:
            pass

    def run(self):
        backoff = 0.5
        while not self._stopping:
            try:
                published = self.relay_once()
                self.prune_if_due(self.prune_interval)
                backoff = 0.5
            except Exception as exc:  # broker or database away: keep trying
                log.warning("outbox relay of %s paused (%s: %s); retrying in %.1fs",
                            self.service_name, type(exc).__name__, exc, backoff)
                self._disconnect()
                self._wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            if published < self.batch_size:
                self._wait(self.poll_interval)
        # Shutting down: one last try, so a graceful stop leaves nothing behind.
        try:
            while self.relay_once() >= self.batch_size:
                pass
        except Exception as exc:
            log.warning("outbox relay of %s stopped with rows pending (%s)", self.service_name, exc)
        self._disconnect()

    # -- one batch -----------------------------------------------------------

    def relay_once(self):
        """Publish up to one batch of pending rows; return how many were handled."""
        with self.engine.connect() as connection:
            with connection.begin():
                query = (select(outbox_messages.c.id, outbox_messages.c.event_type,
                                outbox_messages.c.event_id, outbox_messages.c.payload)
                         .where(outbox_messages.c.sent_at.is_(None))
                         .order_by(outbox_messages.c.id)
                         .limit(self.batch_size))
                if is_postgres(connection):
                    # The lock and the batch in one round trip: the lock is taken once,
                    # in the CTE; without it (another instance is relaying this outbox
                    # right now) no row comes back.
                    lock = select(func.pg_try_advisory_xact_lock(self.lock_key)
                                  .label("got")).cte("relay_lock")
                    query = query.select_from(outbox_messages.join(lock, lock.c.got))
                rows = connection.execute(query).all()
                if not rows:
                    return 0
                confirmed, failure = self._publish(rows)
                if confirmed:
                    connection.execute(
                        update(outbox_messages)
                        .where(outbox_messages.c.id.in_(confirmed))
                        .values(sent_at=utcnow())
                    )
                confirmed_set = set(confirmed)
                unconfirmed = [row.id for row in rows if row.id not in confirmed_set]
                if unconfirmed:
                    connection.execute(
                        update(outbox_messages)
                        .where(outbox_messages.c.id.in_(unconfirmed))
                        .values(publish_attempts=outbox_messages.c.publish_attempts + 1,
                                last_error=str(failure)[:1000])
                    )
        if failure is not None:
            raise failure
        return len(rows)

    def _publish(self, rows):
        """Publish rows on a confirm channel; return (confirmed row ids, failure or None)."""
        acked_tags, nacked_tags = set(), set()
        tag_to_id = {}
        try:
            channel = self._ensure_channel()

            def on_ack(delivery_tag, multiple):
                _settle(acked_tags, delivery_tag, multiple)

            def on_nack(delivery_tag, multiple):
                _settle(nacked_tags, delivery_tag, multiple)

            def _settle(into, delivery_tag, multiple):
                if multiple:
                    into.update(tag for tag in tag_to_id
                                if tag <= delivery_tag and tag not in acked_tags | nacked_tags)
                else:
                    into.add(delivery_tag)

            channel.events["basic_ack"] = {on_ack}
            channel.events["basic_nack"] = {on_nack}
            for row in rows:
                message = amqp.Message(
                    body=row.payload.encode("utf-8"),
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=2,
                    message_id=row.event_id,
                    type=row.event_type,
                    headers={},
                )
                channel.basic_publish(message, exchange=self.exchange, routing_key=row.event_type)
                tag_to_id[self._next_tag] = row.id
                self._next_tag += 1
            deadline = time.monotonic() + self.confirm_timeout
            while len(acked_tags) + len(nacked_tags) < len(tag_to_id):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PublishFailed(f"no confirm from the broker in {self.confirm_timeout}s")
                try:
                    self._connection.connection.drain_events(timeout=min(remaining, 1.0))
                except socket.timeout:
                    pass
            failure = PublishFailed(f"{len(nacked_tags)} message(s) nacked") if nacked_tags else None
        except Exception as exc:
            failure = exc
        confirmed = [tag_to_id[tag] for tag in confirmed_in_order(tag_to_id, acked_tags)]
        return confirmed, failure

    def _ensure_channel(self):
        if self._channel is None:
            # heartbeat=0: the relay is often idle; a dead connection shows up as a
            # failed publish or a missing confirm, and is then replaced.
            self._connection = Connection(self.amqp_uri, heartbeat=0, connect_timeout=5)
            self._connection.connect()
            channel = self._connection.connection.channel()
            channel.confirm_select()
            channel.exchange_declare(self.exchange, "topic", durable=True, auto_delete=False)
            self._channel = channel
            self._next_tag = 1
        return self._channel

    def _disconnect(self):
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception:  # already broken; nothing more to do
                pass

    # -- housekeeping --------------------------------------------------------

    def prune_if_due(self, every_seconds):
        if time.monotonic() - self._last_prune < every_seconds:
            return
        self._last_prune = time.monotonic()
        self.prune()

    def prune(self, now=None):
        """Delete sent outbox rows and processed-message records past retention."""
        now = now or utcnow()
        with self.engine.begin() as connection:
            sent = connection.execute(
                delete(outbox_messages).where(outbox_messages.c.sent_at < now - self.retention)
            ).rowcount
            processed = connection.execute(
                delete(processed_messages)
                .where(processed_messages.c.processed_at < now - self.processed_retention)
            ).rowcount
        if sent or processed:
            log.info("pruned %d sent outbox rows and %d processed-message records", sent, processed)
        return sent, processed

    def pending_count(self):
        with self.engine.connect() as connection:
            return connection.execute(
                select(func.count()).select_from(outbox_messages)
                .where(outbox_messages.c.sent_at.is_(None))
            ).scalar()


class OutboxWriter:
    """What a worker sees as ``self.outbox``: ``add(event_type, data)``."""

    def __init__(self, provider, worker_ctx):
        self._provider = provider
        self._worker_ctx = worker_ctx

    def add(self, event_type, data):
        session = self._provider.database.sessions[self._worker_ctx]
        envelope = make_envelope(self._provider.container.service_name, event_type, data,
                                 actor=caller_of(self._worker_ctx).as_actor())
        # Written with the commit, in the same transaction (and round trip) as the
        # call's audit entry: shared.db.write_at_commit.
        write_at_commit(session, _INSERT_MESSAGE, _message_row(envelope))
        note_touched(self._worker_ctx, data)
        self._provider.dirty_workers.add(self._worker_ctx)
        # Joins this worker's call chain to the workers that will handle the message.
        log.info("message %s recorded", event_type,
                 extra={"emitted_event_id": envelope["event_id"], "event_type": event_type})
        return envelope


class Outbox(DependencyProvider):
    """``self.outbox.add(event_type, data)`` in a worker; runs the relay in the process."""

    def setup(self):
        self.database = find_database(self.container)
        self.dirty_workers = set()
        self.relay = None
        self._relay_thread = None

    def start(self):
        settings = settings_of(self.container)
        self.relay = OutboxRelay(
            self.database.engine,
            settings.AMQP_URI,
            self.container.service_name,
            batch_size=settings.OUTBOX_BATCH_SIZE,
            poll_interval=settings.OUTBOX_POLL_SECONDS,
            retention=timedelta(hours=settings.OUTBOX_RETENTION_HOURS),
            processed_retention=timedelta(days=settings.PROCESSED_RETENTION_DAYS),
            prune_interval=settings.OUTBOX_PRUNE_CHECK_SECONDS,
        )
        self._relay_thread = self.container.spawn_managed_thread(
            self.relay.run, identifier="outbox-relay")

    def stop(self):
        if self.relay is not None:
            self.relay.stop()
            with eventlet.Timeout(30, False):
                self._relay_thread.wait()

    def kill(self):
        if self.relay is not None:
            self.relay.stop()
        if self._relay_thread is not None:
            self._relay_thread.kill()

    def get_dependency(self, worker_ctx):
        return OutboxWriter(self, worker_ctx)

    def worker_teardown(self, worker_ctx):
        # Runs after the worker's transaction is finished: wake the relay for
        # what it committed (a rolled-back worker only costs an empty batch).
        if worker_ctx in self.dirty_workers:
            self.dirty_workers.discard(worker_ctx)
            self.relay.wake()
