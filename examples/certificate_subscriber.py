"""A subscriber another team would write: it learns of every certificate issued.

It keeps a small ledger (SQLite) of the certificates it has learned of and logs one
line per new certificate: its number and the holder's name, nothing more personal.
It uses nothing from this repository, only nameko; see docs/subscribing.md.

    AMQP_URI=amqp://<your login>:<password>@<broker>:5672/ \\
    CERTIFICATE_LEDGER=var/certificate-ledger.sqlite \\
        nameko run --config examples/certificate_subscriber.yml examples.certificate_subscriber

Messages arrive at least once and may come out of order, so each one is applied once
by its ``event_id``: the id and the effect are written in one transaction, and a
message whose id is already there changes nothing.
"""
import logging
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

from nameko.events import event_handler
from nameko.extensions import DependencyProvider

log = logging.getLogger("certificate_register")

SCHEMA = """
CREATE TABLE IF NOT EXISTS processed_events (
    event_id TEXT PRIMARY KEY,
    processed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS certificates (
    number TEXT PRIMARY KEY,
    holder_name TEXT NOT NULL,
    scheme_code TEXT NOT NULL,
    scheme_title TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    verify_url TEXT NOT NULL,
    learned_at TEXT NOT NULL
);
"""
# What this subscriber needs from a certificate_issued message's data (docs/asyncapi.yaml
# lists all it carries; fields may be added, so read what you need and ignore the rest).
NEEDED = ("number", "holder_name", "scheme_code", "scheme_title", "issued_at", "valid_until",
          "verify_url")


class Malformed(Exception):
    """A message this subscriber can never apply."""


def read_certificate(message):
    """The certificate in a ``certificate_issued`` message, or ``Malformed``."""
    if not isinstance(message, dict) or not isinstance(message.get("data"), dict):
        raise Malformed("not an envelope with data")
    if not message.get("event_id") or message.get("event_type") != "certificate_issued":
        raise Malformed("no event_id, or not a certificate_issued")
    missing = [name for name in NEEDED if not isinstance(message["data"].get(name), str)]
    if missing:
        raise Malformed(f"data lacks {', '.join(missing)}")
    return {name: message["data"][name] for name in NEEDED}


class Ledger(DependencyProvider):
    """The SQLite file of certificates learned of (``CERTIFICATE_LEDGER``)."""

    def setup(self):
        self.path = Path(self.container.config.get("CERTIFICATE_LEDGER",
                                                   "var/certificate-ledger.sqlite"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self.connect()) as db:
            db.executescript(SCHEMA)

    def connect(self):
        return sqlite3.connect(self.path, timeout=10)

    def get_dependency(self, worker_ctx):
        return self

    def record(self, event_id, certificate):
        """Apply a message once: False if its ``event_id`` was applied before."""
        now = datetime.now(timezone.utc).isoformat()
        with closing(self.connect()) as db, db:  # one transaction: the id and the effect
            seen = db.execute("INSERT OR IGNORE INTO processed_events VALUES (?, ?)",
                              (event_id, now)).rowcount == 0
            if seen:
                return False
            db.execute(
                "INSERT OR IGNORE INTO certificates VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                tuple(certificate[name] for name in NEEDED) + (now,))
            return True


class CertificateRegister:
    name = "certificate_register"

    ledger = Ledger()

    # A durable queue of this service's own: evt-certification-certificate_issued--
    # certificate_register.on_certificate_issued, bound to certification.events.
    # requeue_on_error: a failure (the disk full, say) puts the message back instead of
    # losing it; a message that can never work is logged and dropped below instead.
    @event_handler("certification", "certificate_issued", requeue_on_error=True)
    def on_certificate_issued(self, message):
        try:
            certificate = read_certificate(message)
        except Malformed as problem:
            log.error("dropping a certificate_issued message I cannot read: %s", problem)
            return
        if self.ledger.record(message["event_id"], certificate):
            log.info("certificate %s issued to %s", certificate["number"],
                     certificate["holder_name"])
        else:
            log.info("event %s already applied; skipping", message["event_id"])
