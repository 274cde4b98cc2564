"""Reliable, idempotent event handling: ``from shared.handlers import event_handler``.

    @event_handler("members", "member_activated")
    def on_member_activated(self, event):   # event: the checked envelope
        ...

What it adds to nameko's ``@event_handler``:
- Idempotence: the handler's ``event_id`` is recorded in ``processed_messages``
  (per consumer) in the same transaction as the handler's effect; a message seen
  before is skipped, so a redelivery changes nothing.
- Commit before ack: the worker's transaction commits before the message is
  acknowledged, so a crash in between means a redelivery, never a loss.
- Retries with backoff, then a dead-letter queue: a failing message is
  re-published to ``<queue>.retry.<delay_ms>`` (a queue whose TTL sends it back to
  the handler's queue after the delay), with its attempt count in a header; after
  the last delay (``HANDLER_RETRY_DELAYS_MS``) it goes to ``<service>.dead-letter``
  with the error. A malformed message goes there at once. Only then is the
  original acked; if that hand-over fails, the message is requeued instead.
- Topology first: the handler's queue (durable, bound to ``<source>.events``),
  its retry queues and the dead-letter queue are declared when the service
  starts, before its entrypoints run.

The service must have one ``shared.db.Database`` dependency (any attribute name).
"""
import functools
import logging

import eventlet
from kombu import Connection
from nameko.amqp.publish import Publisher
from nameko.events import SERVICE_POOL, EventHandler
from sqlalchemy import delete

from shared import metrics
from shared.consumers import SafeQueueConsumer
from shared.db import Database, finish_unit_of_work, insert_ignoring_duplicates
from shared.envelope import MalformedMessage, parse_envelope
from shared.settings import settings_of
from shared.tables import processed_messages
from shared.timeutil import iso, utcnow

log = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-ekraf-attempts"
ERROR_HEADER = "x-ekraf-error"
ORIGINAL_QUEUE_HEADER = "x-ekraf-original-queue"
ORIGINAL_EXCHANGE_HEADER = "x-ekraf-original-exchange"
ORIGINAL_ROUTING_KEY_HEADER = "x-ekraf-original-routing-key"
FAILED_AT_HEADER = "x-ekraf-failed-at"
HANDOVER_FAILURE_PAUSE_SECONDS = 2.0


def attempts_so_far(headers):
    """How often the message has failed before, or None if the header is not ours."""
    value = headers.get(ATTEMPTS_HEADER, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def dead_letter_queue_name(service_name):
    return f"{service_name}.dead-letter"


def retry_queue_name(queue_name, delay_ms):
    return f"{queue_name}.retry.{delay_ms}"


def declare_queue(channel, name, arguments=None):
    channel.queue_declare(queue=name, durable=True, auto_delete=False, exclusive=False,
                          arguments=arguments or {})


class ReliableEventHandler(EventHandler):
    """nameko's EventHandler with commit-before-ack, retries and a dead-letter queue."""

    queue_consumer = SafeQueueConsumer()

    def __init__(self, source_service, event_type, **kwargs):
        super().__init__(source_service, event_type, handler_type=SERVICE_POOL,
                         reliable_delivery=True, requeue_on_error=False, **kwargs)

    def setup(self):
        super().setup()
        settings = settings_of(self.container)
        self.amqp_uri = settings.AMQP_URI
        self.retry_delays_ms = list(settings.HANDLER_RETRY_DELAYS_MS)
        self.dead_letter_queue = dead_letter_queue_name(self.container.service_name)
        self.publisher = Publisher(self.amqp_uri, use_confirms=True)
        self.declare_topology()

    def declare_topology(self):
        with Connection(self.amqp_uri, connect_timeout=10) as connection:
            channel = connection.default_channel
            self.queue(channel).declare()  # exchange, queue and binding, as nameko would
            for delay_ms in self.retry_delays_ms:
                declare_queue(channel, retry_queue_name(self.queue.name, delay_ms), {
                    "x-message-ttl": delay_ms,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": self.queue.name,
                })
            declare_queue(channel, self.dead_letter_queue)

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        exc_info = finish_unit_of_work(worker_ctx, exc_info)
        if exc_info is not None:
            try:
                self.retry_or_park(message, exc_info[1])
            except Exception:
                # The broker refused the hand-over: keep the message in its queue,
                # after a pause so that this cannot spin while the broker is unwell.
                log.exception("could not hand a failed message to retry; requeueing it")
                eventlet.sleep(HANDOVER_FAILURE_PAUSE_SECONDS)
                self._settle(self.queue_consumer.requeue_message, message)
                return result, exc_info
        self._settle(self.queue_consumer.ack_message, message)
        return result, exc_info

    def _settle(self, ack_or_requeue, message):
        """Ack or requeue, surviving a connection that died under the worker.

        nameko only ignores amqp's own ConnectionError here; a broken pipe escapes the
        worker and kills the whole service. The message, never acked, is redelivered
        once the broker is back, and the idempotency record (committed with the
        effect) makes its second delivery a no-op."""
        try:
            ack_or_requeue(message)
        except Exception as error:
            log.warning("could not settle a message from %s (%s); the broker will "
                        "redeliver it", self.queue.name, type(error).__name__)

    def on_undecodable(self, message, exc):
        """A body that is not JSON we can read: parked at once, with the reason."""
        self.retry_or_park(message, MalformedMessage(
            f"body is not readable JSON ({type(exc).__name__})"))
        self._settle(self.queue_consumer.ack_message, message)

    def retry_or_park(self, message, exc):
        headers = {key: value for key, value in (message.headers or {}).items()
                   if key != "x-death"}
        previous = attempts_so_far(headers)
        # A header we did not write (garbage, negative): park rather than guess.
        attempts = len(self.retry_delays_ms) + 1 if previous is None else previous + 1
        headers[ATTEMPTS_HEADER] = attempts
        headers.setdefault(ORIGINAL_QUEUE_HEADER, self.queue.name)
        headers.setdefault(ORIGINAL_EXCHANGE_HEADER, message.delivery_info.get("exchange", ""))
        headers.setdefault(ORIGINAL_ROUTING_KEY_HEADER,
                           message.delivery_info.get("routing_key", ""))
        headers[ERROR_HEADER] = f"{type(exc).__name__}: {exc}"[:2000]
        if isinstance(exc, MalformedMessage) or attempts > len(self.retry_delays_ms):
            headers[FAILED_AT_HEADER] = iso(utcnow())
            target = self.dead_letter_queue
            log.error("parking message from %s in %s after %d attempt(s): %s",
                      self.queue.name, target, attempts, headers[ERROR_HEADER])
            counter = metrics.MESSAGES_PARKED
        else:
            target = retry_queue_name(self.queue.name, self.retry_delays_ms[attempts - 1])
            log.warning("retrying message from %s (attempt %d) after %s: %s",
                        self.queue.name, attempts, target, headers[ERROR_HEADER])
            counter = metrics.HANDLER_RETRIES
        self.publisher.publish(
            message.body,
            exchange="",
            routing_key=target,
            headers=headers,
            content_type=message.content_type or "application/json",
            content_encoding=message.content_encoding or "utf-8",
            mandatory=True,  # a missing retry or dead-letter queue is an error, not a drop
            retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
        )
        counter.labels(self.container.service_name, self.queue.name).inc()


_session_attributes = {}


def _worker_session(service):
    """The worker's session: the attribute where the service's Database is injected."""
    cls = type(service)
    if cls not in _session_attributes:
        names = [name for klass in cls.__mro__ for name, value in vars(klass).items()
                 if isinstance(value, Database)]
        if len(names) != 1:
            raise RuntimeError(f"{cls.__name__} needs exactly one Database dependency")
        _session_attributes[cls] = names[0]
    return getattr(service, _session_attributes[cls])


def claim_event(session, consumer, envelope):
    """Record that ``consumer`` applies this event; False if it already has."""
    return insert_ignoring_duplicates(session, processed_messages, [{
        "consumer": consumer,
        "event_id": str(envelope["event_id"]),
        "event_type": envelope["event_type"],
        "processed_at": utcnow(),
    }]) == 1


def prune_processed_messages(session, retention, now=None):
    """Forget the messages applied longer ago than ``retention`` (a timedelta): a
    redelivery is only ever that late after an operator's replay. Services with an
    outbox have their relay do this; the others call it on a timer. Returns how many."""
    now = now or utcnow()
    return session.execute(delete(processed_messages).where(
        processed_messages.c.processed_at < now - retention)).rowcount


def event_handler(source_service, event_type):
    """Decorate ``method(self, event)`` as an idempotent, retried handler."""

    def decorate(method):
        @functools.wraps(method)
        def handle(self, body):
            envelope = parse_envelope(body, expected_type=event_type)
            consumer = f"{self.name}.{method.__name__}"
            if not claim_event(_worker_session(self), consumer, envelope):
                log.info("%s already applied %s %s; skipping",
                         consumer, event_type, envelope["event_id"])
                return None
            return method(self, envelope)

        return ReliableEventHandler.decorator(source_service, event_type)(handle)

    return decorate
