"""Sending: email over SMTP, SMS through the gateway's webhook, with retries.

Deliveries are written ``pending`` in the same transaction as the notification
that caused them. ``DeliveryWorker`` (one green thread per service process) claims
due ones with a short lease (``FOR UPDATE SKIP LOCKED``: several instances share
the work, none sends the same delivery at once), sends each in its own green
thread, one pool per channel, so a slow or failing SMS gateway never holds up
email or other members, and records the outcome: ``sent``, or another try after
the next backoff delay, or ``failed`` with the reason once the delays are used up.
"""
import json
import logging
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.request
from datetime import timedelta
from email.charset import QP, Charset
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr

import eventlet
from eventlet.queue import Empty, Full, LightQueue
from nameko.extensions import DependencyProvider
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from services.notifications import domain
from services.notifications.models import Delivery
from shared import config as cfg
from shared.db import find_database
from shared.timeutil import utcnow_precise as utcnow  # scheduling needs sub-second times

log = logging.getLogger(__name__)


class SendFailed(Exception):
    pass


class SendTimedOut(SendFailed):
    pass


SMTP_SECURITY = ("none", "starttls", "tls")


class EmailSender:
    """Sends each delivery as a MIME email (text/plain, UTF-8).

    ``security``: ``none`` (plain SMTP, for a local mail catcher), ``starttls`` (the
    session is upgraded before anything else is said, usually on port 587) or ``tls``
    (TLS from the first byte, usually port 465). With TLS the relay's certificate and
    host name are always verified, against ``ca_file`` when given (a relay with a
    private CA), else the system's CAs. With a ``username`` each new session logs in
    right after TLS is up; a username without TLS is refused here, at start, so a
    password never crosses the network in the clear.

    Connections are kept open between sends (up to ``keep`` idle ones, each for at
    most ``idle_seconds``): a new SMTP session per email cost more CPU than building
    and sending the email itself. A kept connection stays logged in. One the server
    has since closed is noticed on first use and the email goes out on a fresh one.
    """

    def __init__(self, host, port, sender, timeout=10.0, keep=10, idle_seconds=30.0,
                 security="none", username=None, password=None, ca_file=None):
        self.host, self.port, self.sender, self.timeout = host, int(port), sender, timeout
        self.keep, self.idle_seconds = keep, idle_seconds
        self.security = str(security or "none").strip().lower()
        if self.security not in SMTP_SECURITY:
            raise ValueError(f"SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY)}; "
                             f"got {security!r}")
        self.username = str(username) if username not in (None, "") else None
        self._password = str(password) if password not in (None, "") else None
        if self._password and not self.username:
            raise ValueError("SMTP_PASSWORD is set but SMTP_USERNAME is not: set both "
                             "to log in to the relay, or neither")
        if self.username and not self._password:
            raise ValueError("SMTP_USERNAME is set but SMTP_PASSWORD is empty: set both "
                             "to log in to the relay, or neither")
        if self.username and self.security == "none":
            raise ValueError("SMTP_USERNAME is set but SMTP_SECURITY is none: refusing to "
                             "send the SMTP password over an unencrypted connection; set "
                             "SMTP_SECURITY=starttls (port 587) or tls (port 465)")
        if ca_file and self.security == "none":
            raise ValueError("SMTP_CA_FILE is set but SMTP_SECURITY is none: set "
                             "SMTP_SECURITY=starttls or tls for the CA to be used")
        self._tls = _tls_context(ca_file) if self.security != "none" else None
        self._idle = []  # (connection, time it was put back)
        name, address = parseaddr(sender)
        self._from = formataddr((name, address), charset="utf-8")  # a name may be non-ASCII
        self._domain = address.rpartition("@")[2] or "localhost"
        # smtplib looks the local name up (DNS) on every connection unless given one.
        self._local_hostname = socket.getfqdn()

    def message(self, delivery):
        # compat32 MIMEText: the same wire format as EmailMessage, without parsing
        # every header through the header registry (a third of the sending CPU).
        message = MIMEText(delivery.body, "plain", _BODY_CHARSET)
        message["From"] = self._from
        message["To"] = delivery.recipient
        message["Subject"] = _header(delivery.subject)
        message["Date"] = formatdate(localtime=False)
        # Fixed per delivery: a copy resent after a crash is recognisably the same mail.
        message["Message-ID"] = f"<{delivery.id}@{self._domain}>"
        message["Content-Language"] = delivery.locale
        return message

    def send(self, delivery):
        message = self.message(delivery)
        connection, reused = self._connection()
        try:
            connection.send_message(message)
        except (smtplib.SMTPServerDisconnected, OSError):
            connection.close()
            if not reused:
                raise
            connection = self._open()  # the kept one had gone stale: once more, fresh
            try:
                connection.send_message(message)
            except BaseException:
                connection.close()
                raise
        except BaseException:  # refused, or timed out mid-session: not reusable
            connection.close()
            raise
        self._put_back(connection)

    def _open(self):
        """A new session, upgraded to TLS and logged in as the settings say."""
        try:
            if self.security == "tls":
                connection = smtplib.SMTP_SSL(self.host, self.port, context=self._tls,
                                              local_hostname=self._local_hostname,
                                              timeout=self.timeout)
            else:
                connection = smtplib.SMTP(self.host, self.port,
                                          local_hostname=self._local_hostname,
                                          timeout=self.timeout)
        except ssl.SSLCertVerificationError as error:
            raise _untrusted(error) from None
        try:
            if self.security == "starttls":
                # starttls() refuses (SMTPNotSupportedError) a relay that does not
                # offer it: never falls back to plain text.
                connection.starttls(context=self._tls)
            if self.username:
                connection.login(self.username, self._password)
        except ssl.SSLCertVerificationError as error:
            connection.close()
            raise _untrusted(error) from None
        except smtplib.SMTPAuthenticationError as error:
            connection.close()
            raise SendFailed(f"the SMTP relay refused the login of {self.username!r}: "
                             f"{error.smtp_code} {_text(error.smtp_error)}") from None
        except BaseException:
            connection.close()
            raise
        return connection

    def _connection(self):
        now = time.monotonic()
        while self._idle:
            connection, since = self._idle.pop()
            if now - since < self.idle_seconds:
                return connection, True
            _close(connection)
        return self._open(), False

    def _put_back(self, connection):
        if len(self._idle) < self.keep:
            self._idle.append((connection, time.monotonic()))
        else:
            _close(connection)

    def close(self):
        while self._idle:
            _close(self._idle.pop()[0])


_BODY_CHARSET = Charset("utf-8")
_BODY_CHARSET.body_encoding = QP  # readable in a mail catcher, unlike base64


def _header(text):
    """A header value: plain when ASCII, RFC 2047 encoded otherwise."""
    return text if text.isascii() else Header(text, "utf-8").encode()


def _tls_context(ca_file):
    """Verifies the relay's certificate and host name: against ``ca_file`` alone when
    given, else against the system's CAs."""
    try:
        return ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as error:
        raise ValueError(f"SMTP_CA_FILE {ca_file!r} is not a readable PEM CA bundle: "
                         f"{error}") from None


def _untrusted(error):
    return SendFailed(f"the SMTP relay's certificate is not trusted "
                      f"({error.verify_message}); if the relay uses a private CA, set "
                      f"SMTP_CA_FILE to it")


def _text(reply):
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _close(connection):
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()


class SmsSender:
    """POSTs ``{"to", "message", "reference", "locale"}`` as JSON; 2xx means accepted."""

    def __init__(self, url, timeout=10.0):
        self.url, self.timeout = url, timeout

    def send(self, delivery):
        payload = json.dumps({"to": delivery.recipient, "message": delivery.body,
                              "reference": delivery.id, "locale": delivery.locale}).encode()
        request = urllib.request.Request(self.url, data=payload, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read(1024)
        except urllib.error.HTTPError as error:
            raise SendFailed(f"SMS gateway answered {error.code}") from None
        except (urllib.error.URLError, OSError) as error:
            raise SendFailed(f"SMS gateway unreachable: {getattr(error, 'reason', error)}") from None


def scrub(text, recipient):
    """An error text without the address it was sent to: it is shown to operators."""
    return text.replace(recipient, "<recipient>") if recipient else text


class DeliveryWorker(DependencyProvider):
    """Sends pending deliveries; ``self.deliveries.wake()`` after new ones commit."""

    def setup(self):
        config = self.container.config
        self.engine = None
        self.delays = domain.backoff_schedule(
            cfg.list_setting(config, "NOTIFY_RETRY_DELAYS_SECONDS", "5,30,120,600,1800"))
        self.poll_seconds = cfg.float_setting(config, "NOTIFY_POLL_SECONDS", 1.0)
        timeout = cfg.float_setting(config, "NOTIFY_SEND_TIMEOUT_SECONDS", 10.0)
        # The whole send (not each socket read) must end within the deadline, and the
        # lease outlives it, so no other sender claims a delivery still being sent.
        self.deadline = 2 * timeout
        self.lease = timedelta(seconds=self.deadline + 60)
        concurrency = cfg.int_setting(config, "NOTIFY_SEND_CONCURRENCY", 10)
        self.senders = {"email": EmailSender(
            cfg.setting(config, "SMTP_HOST", "localhost"), cfg.setting(config, "SMTP_PORT", 1025),
            cfg.setting(config, "SMTP_FROM", "noreply@localhost"), timeout, keep=concurrency,
            security=cfg.setting(config, "SMTP_SECURITY", "none"),
            username=cfg.setting(config, "SMTP_USERNAME"),
            password=cfg.setting(config, "SMTP_PASSWORD"),
            ca_file=cfg.setting(config, "SMTP_CA_FILE"))}
        sms_url = cfg.setting(config, "SMS_WEBHOOK_URL")
        if sms_url:
            self.senders["sms"] = SmsSender(sms_url, timeout)
        self.pools = {channel: eventlet.GreenPool(concurrency) for channel in self.senders}
        self._wake = LightQueue(maxsize=1)
        self._stopping = False
        self._thread = None

    @property
    def sms_enabled(self):
        return "sms" in self.senders

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
        self.senders["email"].close()

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
        now = utcnow()
        with Session(self.engine, expire_on_commit=False) as session:
            due = session.scalars(
                select(Delivery)
                .where(Delivery.channel == channel, Delivery.status == "pending",
                       Delivery.next_attempt_at <= now,
                       or_(Delivery.locked_until.is_(None), Delivery.locked_until < now))
                .order_by(Delivery.next_attempt_at, Delivery.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            for delivery in due:
                delivery.locked_until = now + self.lease
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

    def record_outcome(self, delivery_id, lease, error):
        """Record a send's outcome, if the delivery is still this sender's to record."""
        now = utcnow()
        if error is None:  # the common case, in one statement
            with self.engine.begin() as connection:
                sent = connection.execute(
                    update(Delivery)
                    .where(Delivery.id == delivery_id, Delivery.status == "pending",
                           Delivery.locked_until == lease)
                    .values(status="sent", sent_at=now, next_attempt_at=None,
                            locked_until=None, attempts=Delivery.attempts + 1)).rowcount
            if not sent:
                log.warning("delivery %s changed hands while being sent; outcome dropped",
                            delivery_id)
            return
        with Session(self.engine) as session:
            delivery = session.get(Delivery, delivery_id, with_for_update=True)
            if delivery.status != "pending" or delivery.locked_until != lease:
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
                delivery.status, delivery.next_attempt_at = "failed", None
                log.warning("delivery %s (%s) failed for good after %d attempts",
                            delivery_id, delivery.channel, delivery.attempts)
            else:
                delivery.next_attempt_at = now + timedelta(seconds=delay)
            session.commit()
