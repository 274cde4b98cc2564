"""A small service built on the shared library the way real services are, for
testing the foundation itself (sessions, outbox, idempotent handlers, retries)."""
from collections import Counter

import sqlalchemy as sa
from sqlalchemy import insert

from shared.db import Database
from shared.entrypoints import rpc
from shared.errors import Conflict
from shared.handlers import event_handler
from shared.outbox import Outbox

metadata = sa.MetaData()
effects = sa.Table(
    "ledger_effects", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("note", sa.String(200), nullable=False),
)

attempts = Counter()  # event_id -> handler calls, seen by the tests (same process)


class LedgerService:
    name = "ledger_test"

    db = Database()
    outbox = Outbox()

    @rpc
    def record(self, note):
        self.db.execute(insert(effects).values(note=note))
        return self.outbox.add("note_recorded", {"note": note})

    @rpc
    def record_then_refuse(self, note):
        self.db.execute(insert(effects).values(note=note))
        self.outbox.add("note_recorded", {"note": note})
        raise Conflict("refused after writing: nothing may remain")

    @rpc
    def crash(self):
        return {}["missing"]

    @event_handler("test_source", "thing_happened")
    def on_thing_happened(self, event):
        attempts[event["event_id"]] += 1
        self.db.execute(insert(effects).values(note=event["data"]["note"]))
        if attempts[event["event_id"]] <= event["data"].get("fail_times", 0):
            raise RuntimeError(f"failing on purpose, attempt {attempts[event['event_id']]}")


class SlowLedgerService(LedgerService):
    """The ledger with a slow query, to show one slow query stalls only its worker."""

    name = "slow_ledger_test"

    @rpc
    def slow(self, seconds):
        self.db.execute(sa.text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})
        return seconds
