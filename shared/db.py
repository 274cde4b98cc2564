"""Database access: one engine per service, one session per worker.

``Database`` is a nameko dependency provider. Each worker gets its own SQLAlchemy
session; it is committed when the entrypoint succeeds and rolled back when it
raises. The shared entrypoints (``shared.entrypoints.rpc``,
``shared.handlers.event_handler``) finish the session *before* the RPC reply is
sent or the message acked, so a caller never hears "done" for a change that did
not commit. Other entrypoints (timers) are finished in ``worker_result``.
"""
import functools
import logging
import re
import sys
import threading
import time
from pathlib import Path

from nameko.extensions import DependencyProvider
from sqlalchemy import DateTime, bindparam, create_engine, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from shared import config as cfg
from shared.settings import settings_of
from shared.timeutil import as_utc

log = logging.getLogger(__name__)
_patch_lock = threading.Lock()
_psycopg_patched = False


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite forgets the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return as_utc(value)

    def process_result_value(self, value, dialect):
        return as_utc(value)


def patch_psycopg_for_eventlet():
    """Make psycopg2 yield to other green threads while it waits on the server."""
    global _psycopg_patched
    with _patch_lock:
        if not _psycopg_patched:
            import psycogreen.eventlet

            psycogreen.eventlet.patch_psycopg()
            _psycopg_patched = True


# A pooled connection idle longer than this is checked (SELECT 1) before use.
PING_IF_IDLE_SECONDS = 1.0


def make_engine(url, pool_size=10, max_overflow=4, autocommit=False, keep_connections=True):
    """An engine for ``url``.

    PostgreSQL connections are checked before use only when they have been idle for
    a while (``PING_IF_IDLE_SECONDS``): SQLAlchemy's ``pool_pre_ping`` costs a round
    trip on every request, yet a connection handed back a moment ago is almost
    always alive. After a database restart, the idle connections fail their check
    and are replaced, so callers see no error once the database is back.

    ``keep_connections=False``: no pool, a connection per use (for what is used every
    few seconds, like the client registry: PostgreSQL's connections are shared by
    every process, and an idle one per process adds up).
    """
    if url.startswith("postgresql"):
        patch_psycopg_for_eventlet()
        options = {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None} \
            if autocommit else {}
        if not keep_connections:
            from sqlalchemy.pool import NullPool

            return create_engine(url, poolclass=NullPool, hide_parameters=True, **options)
        # hide_parameters: SQL errors land in logs and dead-letter headers, and the
        # values bound to a statement may be personal data (emails, phone numbers).
        engine = create_engine(
            url, pool_size=pool_size, max_overflow=max_overflow, pool_timeout=10,
            hide_parameters=True, **options,
        )
        _ping_idle_connections(engine)
        return engine
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                           hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def _ping_idle_connections(engine):
    @event.listens_for(engine, "checkin")
    def _remember_checkin(dbapi_connection, record):
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check_if_idle(dbapi_connection, record, proxy):
        idle_since = record.info.get("checked_in_at")
        if idle_since is None or time.monotonic() - idle_since < PING_IF_IDLE_SECONDS:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            if not dbapi_connection.autocommit:
                dbapi_connection.rollback()
        except Exception as error:
            # The pool drops this connection and checks out another (a new one).
            raise DisconnectionError(f"stale connection: {type(error).__name__}") from error


def is_postgres(bind):
    return bind.dialect.name == "postgresql"


class Database(DependencyProvider):
    """Injects a SQLAlchemy ``Session`` per worker; migrates the schema on start.

    ``migrations_dir`` is the service's Alembic folder; its history is applied
    under a lock before any entrypoint starts (see ``shared.migrations``).
    """

    def __init__(self, migrations_dir=None):
        self.migrations_dir = migrations_dir
        self.engine = self.reader = None
        self.sessions = {}

    def setup(self):
        # Every service has one Database: reading the settings here, first, checks
        # them all at start (a bad value stops the service, naming the variable).
        settings = settings_of(self.container)
        service_name = self.container.service_name
        url = cfg.db_url(settings, service_name)
        workers = settings.MAX_WORKERS
        # Kept: one connection per worker, plus the outbox relay and a spare; more
        # than that only briefly. PostgreSQL's max_connections is shared by everyone.
        self.engine = make_engine(url, pool_size=workers + 2)
        # For read-only entrypoints, a pool of connections that stay in autocommit:
        # each statement on its own, without the BEGIN and COMMIT round trips.
        self.reader = (make_engine(url, pool_size=workers, max_overflow=2, autocommit=True)
                       if is_postgres(self.engine) else self.engine)
        if self.migrations_dir is not None:
            from shared.migrations import upgrade_to_head

            upgrade_to_head(self.engine, service_name, self.migrations_dir)

    def stop(self):
        if self.engine is not None:
            self.engine.dispose()
        if self.reader is not None and self.reader is not self.engine:
            self.reader.dispose()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        if getattr(worker_ctx.entrypoint, "read_only", False):
            session = Session(bind=self.reader, expire_on_commit=False)
            session.info["read_only"] = True
        else:
            session = Session(bind=self.engine, expire_on_commit=False)
        self.sessions[worker_ctx] = session
        return session

    def finish(self, worker_ctx, exc_info):
        """Commit (no error) or roll back the worker's session; return the outcome.

        A failed commit becomes the worker's error, so it reaches the caller.
        """
        session = self.sessions.pop(worker_ctx, None)
        if session is None:
            return exc_info
        if session.info.get("read_only"):
            session.close()  # autocommit: nothing to commit or roll back
            return exc_info
        try:
            if exc_info is None:
                send_queued_writes(session)
                session.commit()
            else:
                session.rollback()
        except Exception:
            log.exception("commit failed for %s", worker_ctx)
            exc_info = sys.exc_info()
            try:
                session.rollback()
            except Exception as error:  # the connection is gone: nothing to roll back
                log.warning("rollback after a failed commit failed too (%s)",
                            type(error).__name__)
        finally:
            session.close()
        return exc_info

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        self.finish(worker_ctx, exc_info)

    def worker_teardown(self, worker_ctx):
        # Normally finished already; this only guards against a leaked session.
        session = self.sessions.pop(worker_ctx, None)
        if session is not None:
            session.rollback()
            session.close()


@event.listens_for(Session, "before_flush")
def _refuse_writes_in_read_only_sessions(session, flush_context, instances):
    if session.info.get("read_only"):
        raise RuntimeError("a read-only entrypoint tried to write; drop read_only=True")


def finish_unit_of_work(worker_ctx, exc_info):
    """Finish every ``Database`` session of this worker; return the final outcome."""
    for provider in worker_ctx.container.dependencies:
        if isinstance(provider, Database):
            exc_info = provider.finish(worker_ctx, exc_info)
    return exc_info


def write_at_commit(session, statement, params):
    """Queue an INSERT (``statement``: a Core ``insert`` or a ``text``) to be sent just
    before the worker's commit, in its transaction. On PostgreSQL everything queued
    goes in one round trip: a call's outbox message and its audit entry cost one
    exchange with the server, not one each."""
    session.info.setdefault("queued_writes", []).append((statement, params))


_compiled_for_postgres = {}


def _as_postgres_sql(statement, dialect, keys, number):
    """``statement`` as psycopg2's SQL, its parameters renamed ``q<number>_<name>`` so
    that several statements can share one parameter dict."""
    key = (statement, keys)
    if key not in _compiled_for_postgres:
        _compiled_for_postgres[key] = str(statement.compile(dialect=dialect,
                                                            column_keys=list(keys)))
    return re.sub(r"%\((\w+)\)s", lambda match: f"%(q{number}_{match.group(1)})s",
                  _compiled_for_postgres[key])


def send_queued_writes(session):
    """Send what ``write_at_commit`` queued (called by ``Database.finish``). Through
    SQLAlchemy, so that a lost connection is a ``sqlalchemy.exc.OperationalError``
    (the caller hears "database unavailable") and the connection is discarded."""
    queued = session.info.pop("queued_writes", None)
    if not queued:
        return
    bind = session.get_bind()
    if not is_postgres(bind):
        for statement, params in queued:
            session.execute(statement, params)
        return
    sql, values = [], {}
    for number, (statement, params) in enumerate(queued):
        sql.append(_as_postgres_sql(statement, bind.dialect, tuple(params), number))
        values.update({f"q{number}_{name}": value for name, value in params.items()})
    session.connection().exec_driver_sql(";\n".join(sql), values)  # one round trip


def find_database(container):
    providers = [p for p in container.dependencies if isinstance(p, Database)]
    if len(providers) != 1:
        raise RuntimeError(
            f"{container.service_name} needs exactly one Database dependency, has {len(providers)}"
        )
    return providers[0]


# SQLAlchemy cannot cache INSERT ... ON CONFLICT constructs: each execution would
# compile them anew (docs/performance.md). These are the same statements as text, made
# once per shape and cached (text() is cacheable), with typed parameters; the syntax
# is the same on PostgreSQL and SQLite.
SMALL_BATCH = 10  # up to this many rows: one cached statement for all of them


@functools.lru_cache(maxsize=256)
def _conflict_statement(table, columns, conflict, rows=1):
    """INSERT ... VALUES (...) [, (...)] <conflict> as a cached text statement; with
    several ``rows`` its parameters are named ``<column>_<row>``."""
    names = ", ".join(columns)
    suffixes = [""] if rows == 1 else [f"_{row}" for row in range(rows)]
    values = ", ".join("(" + ", ".join(f":{column}{suffix}" for column in columns) + ")"
                       for suffix in suffixes)
    return text(f"INSERT INTO {table.name} ({names}) VALUES {values} {conflict}"
                ).bindparams(*[bindparam(column + suffix, type_=table.c[column].type)
                               for suffix in suffixes for column in columns])


def insert_ignoring_duplicates(session, table, rows, batch_size=500):
    """Insert rows; a row whose key is already there (a redelivery) is skipped.
    Returns how many rows were inserted (exact for a single row)."""
    if not rows:
        return 0
    if len(rows) == 1:
        statement = _conflict_statement(table, tuple(rows[0]), "ON CONFLICT DO NOTHING")
        return session.execute(statement, rows[0]).rowcount
    if len(rows) <= SMALL_BATCH:  # one round trip, and SQLAlchemy's cache (see above)
        columns = tuple(rows[0])
        statement = _conflict_statement(table, columns, "ON CONFLICT DO NOTHING", len(rows))
        return session.execute(statement, {f"{column}_{index}": row[column]
                                           for index, row in enumerate(rows)
                                           for column in columns}).rowcount
    insert = pg_insert if is_postgres(session.get_bind()) else sqlite_insert
    statement = insert(table).on_conflict_do_nothing()  # many rows: multi-row VALUES
    for start in range(0, len(rows), batch_size):
        session.execute(statement, rows[start:start + batch_size])
    return len(rows)


def upsert_if_newer(session, table, key_columns, values, version_column):
    """Insert a row, or overwrite it only if ``values`` are at least as new.

    For views kept from another service's messages, which may arrive late, twice
    or out of order: the newest version (e.g. the record's ``updated_at``) wins.
    """
    columns = tuple(values)
    updates = ", ".join(f"{column} = excluded.{column}" for column in columns
                        if column not in key_columns)
    conflict = (f"ON CONFLICT ({', '.join(key_columns)}) DO UPDATE SET {updates} "
                f"WHERE {table.name}.{version_column} <= excluded.{version_column}")
    session.execute(_conflict_statement(table, columns, conflict), values)


def is_unique_violation(error):
    """Whether an IntegrityError is a broken uniqueness rule (a Conflict for the caller),
    rather than a NOT NULL or foreign-key failure (a bug)."""
    code = getattr(getattr(error, "orig", None), "pgcode", None)
    if code is not None:
        return code == "23505"
    return "UNIQUE constraint failed" in str(getattr(error, "orig", error))


def get_or_not_found(session, model, key, message, for_update=False):
    """The ``model`` row with primary key ``key``, or ``NotFound(message)``.

    ``for_update`` locks the row until the unit of work ends and reads it afresh,
    so what the caller decides on is what is locked."""
    from shared.errors import NotFound

    options = {"with_for_update": True, "populate_existing": True} if for_update else {}
    row = session.get(model, key, **options)
    if row is None:
        raise NotFound(message)
    return row


def flush_or_conflict(session, message):
    """Flush now; a broken uniqueness rule (a lost race) is a ``Conflict`` with
    ``message``, anything else stays the bug it is.

    No savepoint: the Conflict ends the unit of work, which is rolled back whole, so
    nothing needs to survive the failed statement (and a savepoint costs two round
    trips on every successful call)."""
    from sqlalchemy.exc import IntegrityError

    from shared.errors import Conflict

    try:
        session.flush()
    except IntegrityError as error:
        if not is_unique_violation(error):
            raise
        raise Conflict(message) from None
