"""The delivery worker: sends pending deliveries through the senders in
``adapters.py`` (email over SMTP, SMS through a webhook), with retries.

Deliveries are written ``pending`` in the same transaction as the notification
that caused them. ``DeliveryWorker`` (one green thread per service process) claims
due ones with a short lease (``FOR UPDATE SKIP LOCKED``: several instances share
the work, none sends the same delivery at once), sends each in its own green
thread, one pool per channel, so a slow or failing SMS gateway never holds up
email or other members, and records the outcome: ``sent``, or another try after
the next backoff delay, or ``failed`` with the reason once the delays are used up.
"""
import logging
from datetime import timedelta

import eventlet
from eventlet.queue import Empty, Full, LightQueue
from nameko.extensions import DependencyProvider
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from services.notifications import domain
from services.notifications.adapters import EmailSender, SendTimedOut, SmsSender, scrub
from services.notifications.models import Delivery
from shared.db import find_database
from shared.settings import settings_of
from shared.timeutil import utcnow_precise  # scheduling needs sub-second times

log = logging.getLogger(__name__)


class DeliveryWorker(DependencyProvider):
    """Sends pending deliveries; ``self.deliveries.wake()`` after new ones commit."""

    def setup(self):
        settings = settings_of(self.container)
        self.engine = None
        # A backoff: positive, none shorter than the one before (checked in Settings).
        self.delays = list(settings.NOTIFY_RETRY_DELAYS_SECONDS)
        self.poll_seconds = settings.NOTIFY_POLL_SECONDS
        timeout = settings.NOTIFY_SEND_TIMEOUT_SECONDS
        # The whole send (not each socket read) must end within the deadline, and the
        # lease outlives it, so no other sender claims a delivery still being sent.
        self.deadline = 2 * timeout
        self.lease_length = timedelta(seconds=self.deadline + 60)
        concurrency = settings.NOTIFY_SEND_CONCURRENCY
        self.senders = {domain.EMAIL: EmailSender(
            settings.SMTP_HOST, settings.SMTP_PORT, settings.SMTP_FROM, timeout,
            keep=concurrency, security=settings.SMTP_SECURITY,
            username=settings.SMTP_USERNAME, password=settings.SMTP_PASSWORD,
            ca_file=settings.SMTP_CA_FILE)}
        if settings.SMS_WEBHOOK_URL:
            self.senders[domain.SMS] = SmsSender(settings.SMS_WEBHOOK_URL, timeout)
        self.pools = {channel: eventlet.GreenPool(concurrency) for channel in self.senders}
        self._wake = LightQueue(maxsize=1)
        self._stopping = False
        self._thread = None

    @property
    def sms_enabled(self):
        return domain.SMS in self.senders

    def start(self):
        self.engine = find_database(self.container).engine
        self._thread = self.container.spawn_managed_thread(self.run, identifier="delivery-worker")

    def stop(self):
        self._stopping = True
        self.wake()
        if self._thread is not None:
            with eventlet.Timeout(15, False):
                self._thread.wait()
        for pool in self.pools.values():
            with eventlet.Timeout(15, False):
                pool.waitall()
        self.senders[domain.EMAIL].close()

    def kill(self):
        self._stopping = True
        if self._thread is not None:
            self._thread.kill()

    def get_dependency(self, worker_ctx):
        return self

    def worker_teardown(self, worker_ctx):
        self.wake()  # a handler may have committed new deliveries

    def wake(self):
        try:
            self._wake.put_nowait(True)
        except Full:
            pass

    def run(self):
        while not self._stopping:
            try:
                claimed = sum(self.dispatch(channel) for channel in self.senders)
            except Exception as exc:  # the database away: try again shortly
                log.warning("delivery worker paused: %s", type(exc).__name__)
                claimed = 0
            if not claimed:
                try:
                    self._wake.get(timeout=self.poll_seconds)
                except Empty:
                    pass
            else:
                eventlet.sleep(0)

    def dispatch(self, channel):
        """Claim as many due deliveries of a channel as its pool has room for; send them."""
        pool = self.pools[channel]
        room = pool.free()
        if room == 0:
            return 0
        deliveries = self.claim(channel, room)
        for delivery in deliveries:
            pool.spawn_n(self.send, channel, delivery)
        return len(deliveries)

    def claim(self, channel, limit):
        now = utcnow_precise()
        with Session(self.engine, expire_on_commit=False) as session:
            due = session.scalars(
                select(Delivery)
                .where(Delivery.channel == channel, Delivery.status == domain.PENDING,
                       Delivery.next_attempt_at <= now,
                       or_(Delivery.locked_until.is_(None), Delivery.locked_until < now))
                .order_by(Delivery.next_attempt_at, Delivery.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            for delivery in due:
                delivery.locked_until = now + self.lease_length
            session.commit()
            return due

    def send(self, channel, delivery):
        error = None
        try:
            with eventlet.Timeout(self.deadline,
                                  SendTimedOut(f"no answer within {self.deadline:g}s")):
                self.senders[channel].send(delivery)
        except Exception as exc:  # any failure of the gateway is the delivery's outcome
            error = scrub(f"{type(exc).__name__}: {exc}", delivery.recipient)[:500]
        try:
            self.record_outcome(delivery.id, delivery.locked_until, error)
        except Exception as exc:
            log.error("could not record the outcome of delivery %s: %s",
                      delivery.id, type(exc).__name__)
        finally:
            # A sender is free again: the loop, which waits while every sender is
            # busy, may claim the next delivery now rather than at its next poll.
            self.wake()

    def record_outcome(self, delivery_id, leased_until, error):
        """Record a send's outcome, if the delivery is still this sender's to record:
        still pending and leased until ``leased_until``, as this sender claimed it."""
        now = utcnow_precise()
        if error is None:  # the common case, in one statement
            with self.engine.begin() as connection:
                sent = connection.execute(
                    update(Delivery)
                    .where(Delivery.id == delivery_id, Delivery.status == domain.PENDING,
                           Delivery.locked_until == leased_until)
                    .values(status=domain.SENT, sent_at=now, next_attempt_at=None,
                            locked_until=None, attempts=Delivery.attempts + 1)).rowcount
            if not sent:
                log.warning("delivery %s changed hands while being sent; outcome dropped",
                            delivery_id)
            return
        with Session(self.engine) as session:
            delivery = session.get(Delivery, delivery_id, with_for_update=True)
            if delivery.status != domain.PENDING or delivery.locked_until != leased_until:
                log.warning("delivery %s changed hands while being sent; outcome dropped",
                            delivery_id)
                return
            delivery.attempts += 1
            delivery.locked_until = None
            delivery.last_error = error
            # A delivery an operator re-queued has the whole schedule again.
            delay = domain.next_attempt_delay(
                delivery.attempts - delivery.attempts_before_retry, self.delays)
            if delay is None:
                delivery.status, delivery.next_attempt_at = domain.FAILED, None
                log.warning("delivery %s (%s) failed for good after %d attempts",
                            delivery_id, delivery.channel, delivery.attempts)
            else:
                delivery.next_attempt_at = now + timedelta(seconds=delay)
            session.commit()
