"""A small service built on the shared library the way real services are, for
testing the foundation itself (sessions, outbox, idempotent handlers, retries)."""
import logging
from collections import Counter

import sqlalchemy as sa
from sqlalchemy import insert

from shared.db import Database
from shared.access import OPEN_TO_ANYONE
from shared.entrypoints import rpc
from shared.errors import Conflict
from shared.handlers import event_handler
from shared.outbox import Outbox
from shared.rpc import TimedRpcProxy

metadata = sa.MetaData()
effects = sa.Table(
    "ledger_effects", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("note", sa.String(200), nullable=False),
)

attempts = Counter()  # event_id -> handler calls, seen by the tests (same process)
fixed = set()  # event_ids whose "cause" a test has fixed: their handler now succeeds
skipped = Counter()  # event_id -> deliveries the handler skipped as already applied


class SkipCounter(logging.Handler):
    """Counts shared.handlers' "<consumer> already applied <type> <event_id>; skipping"
    lines of the ledger's handler into ``skipped``: the evidence that a duplicate
    arrived and was recognised (the handler's own code never runs for it)."""

    CONSUMER = "ledger_test.on_thing_happened"

    def emit(self, record):
        if record.msg.endswith("; skipping") and record.args \
                and record.args[0] == self.CONSUMER:
            skipped[str(record.args[2])] += 1

    def __enter__(self):
        self.logger = logging.getLogger("shared.handlers")
        self.level = self.logger.level
        self.logger.setLevel(logging.INFO)  # the skip line is logged at INFO
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc_info):
        self.logger.removeHandler(self)
        self.logger.setLevel(self.level)


class LedgerService:
    name = "ledger_test"

    db = Database()
    outbox = Outbox()

    @rpc(rule=OPEN_TO_ANYONE)
    def record(self, note):
        self.db.execute(insert(effects).values(note=note))
        return self.outbox.add("note_recorded", {"note": note})

    @rpc(rule=OPEN_TO_ANYONE)
    def record_then_refuse(self, note):
        self.db.execute(insert(effects).values(note=note))
        self.outbox.add("note_recorded", {"note": note})
        raise Conflict("refused after writing: nothing may remain")

    @rpc(rule=OPEN_TO_ANYONE)
    def crash(self):
        return {}["missing"]

    @event_handler("test_source", "thing_happened")
    def on_thing_happened(self, event):
        attempts[event["event_id"]] += 1
        self.db.execute(insert(effects).values(note=event["data"]["note"]))
        if attempts[event["event_id"]] <= event["data"].get("fail_times", 0) \
                and event["event_id"] not in fixed:
            raise RuntimeError(f"failing on purpose, attempt {attempts[event['event_id']]}")


class SlowLedgerService(LedgerService):
    """The ledger with a slow query, to show one slow query stalls only its worker."""

    name = "slow_ledger_test"

    @rpc(rule=OPEN_TO_ANYONE)
    def slow(self, seconds):
        self.db.execute(sa.text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})
        return seconds


class SleepyService:
    """A callee that hangs."""

    name = "sleepy_test"

    @rpc(rule=OPEN_TO_ANYONE)
    def nap(self, seconds):
        import eventlet

        eventlet.sleep(seconds)
        return "rested"

    @rpc(rule=OPEN_TO_ANYONE)
    def missing(self):
        from shared.errors import NotFound

        raise NotFound("nothing here")


class CallerService:
    """A service calling another with the shared, timed proxy."""

    name = "caller_test"
    sleepy = TimedRpcProxy("sleepy_test")

    @rpc(rule=OPEN_TO_ANYONE)
    def ask(self, seconds):
        return self.sleepy.nap(seconds)

    @rpc(rule=OPEN_TO_ANYONE)
    def ask_missing(self):
        return self.sleepy.missing()


def count_effects(engine, note=None):
    """How many effects the ledger has applied (with ``note``, of that note)."""
    query = sa.select(sa.func.count()).select_from(effects)
    if note is not None:
        query = query.where(effects.c.note == note)
    with engine.connect() as connection:
        return connection.execute(query).scalar()
