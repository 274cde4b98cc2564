"""The audit trail: who changed what, and who was refused, in each service's database.

Every accepted change made through RPC is recorded in the same transaction as the
change (``shared.entrypoints`` writes the entry before it commits), so the trail
and the data never disagree. Every refusal and every failed change is recorded too,
in a transaction of its own (nothing else was written). Reads that succeed are not
recorded: they change nothing, and the trail would drown in them.

An entry: ``{id, at, service, client, roles, user_id, on_behalf_of, method,
records, outcome, detail, call_id_stack}``; ``outcome`` is ``ok`` or the error type
(``Forbidden``, ``Conflict``...), ``detail`` the refusal's reason (refusals only),
``records`` the ids and numbers the call named or changed. The tables are
append-only: on PostgreSQL and SQLite a trigger refuses UPDATE and DELETE.

The worker context carries what the entry needs: ``caller_of(worker_ctx)`` (set by
the RPC entrypoint; the service itself for timers and handlers) and the records the
worker's messages named (``note_touched``, called by the outbox for each message).
"""
import json
import sys

import sqlalchemy as sa

from shared import access
from shared.db import UTCDateTime, write_at_commit
from shared.errors import ValidationError
from shared.schemas import decode_cursor, encode_cursor
from shared.timeutil import iso, parse_input_time, utcnow_precise

MAX_RECORDS_PER_ENTRY = 10_000
# Keys whose values name a record, in arguments, answers and messages' data.
RECORD_KEYS = ("id", "member_id", "member_number", "number", "event_id", "application_id",
               "session_id", "assessor_id", "delivery_id", "code", "scheme_code")
RECORD_LIST_KEYS = ("member_ids", "notification_ids", "assessor_ids")
NESTED_KEYS = ("application", "certificate", "member")
FILTERS = {"client", "method", "record", "outcome", "since", "until", "limit", "cursor"}

metadata = sa.MetaData()
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("client", sa.String(64), nullable=False),
    sa.Column("roles", sa.Text, nullable=False),
    sa.Column("user_id", sa.String(200)),
    sa.Column("on_behalf_of", sa.String(200)),
    sa.Column("method", sa.String(100), nullable=False),
    sa.Column("outcome", sa.String(40), nullable=False),
    sa.Column("detail", sa.String(500)),
    sa.Column("records", sa.Text, nullable=False),
    sa.Column("call_id_stack", sa.Text, nullable=False),
    sa.Index("ix_audit_log_at", "at"),
    sa.Index("ix_audit_log_client", "client", "id"),
)

audit_records = sa.Table(
    "audit_records", metadata,
    sa.Column("audit_id", _BigId, primary_key=True),
    sa.Column("record", sa.String(100), primary_key=True),
    sa.Index("ix_audit_records_record", "record"),
)


def create_audit_tables(op):
    """The trail's tables and their append-only triggers, in a service's migration
    (version 1 of their shape; spelled out: a migration is a snapshot)."""
    op.create_table(
        "audit_log",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("roles", sa.Text, nullable=False),
        sa.Column("user_id", sa.String(200)),
        sa.Column("on_behalf_of", sa.String(200)),
        sa.Column("method", sa.String(100), nullable=False),
        sa.Column("outcome", sa.String(40), nullable=False),
        sa.Column("detail", sa.String(500)),
        sa.Column("records", sa.Text, nullable=False),
        sa.Column("call_id_stack", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_client", "audit_log", ["client", "id"])
    op.create_table(
        "audit_records",
        sa.Column("audit_id", _BigId, primary_key=True),
        sa.Column("record", sa.String(100), primary_key=True),
    )
    op.create_index("ix_audit_records_record", "audit_records", ["record"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION ekraf_audit_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'the audit trail is append-only: % on % refused',
                    TG_OP, TG_TABLE_NAME;
            END $$ LANGUAGE plpgsql""")
        for table in ("audit_log", "audit_records"):
            op.execute(f"""
                CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
                ON {table} FOR EACH STATEMENT EXECUTE FUNCTION ekraf_audit_append_only()""")
    else:
        for table in ("audit_log", "audit_records"):
            for operation in ("UPDATE", "DELETE"):
                op.execute(f"""
                    CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table}
                    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""")


def drop_audit_tables(op):
    """Undo ``create_audit_tables`` (a service migration's downgrade)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION ekraf_audit_append_only() CASCADE")
    op.drop_table("audit_records")
    op.drop_table("audit_log")


# -- what the worker context carries --------------------------------------------------

def caller_of(worker_ctx):
    """Who this worker acts for: the RPC caller, or the service itself."""
    caller = getattr(worker_ctx, "ekraf_caller", None)
    return caller if caller is not None else access.system_caller(worker_ctx.service_name)


def note_touched(worker_ctx, data):
    """Remember the records a message of this worker names (for its audit entry)."""
    touched = getattr(worker_ctx, "ekraf_touched", None)
    if touched is None:
        touched = worker_ctx.ekraf_touched = {}
    _collect(data, touched)


def _add(value, into):
    if isinstance(value, (str, int)) and not isinstance(value, bool) and len(into) < \
            MAX_RECORDS_PER_ENTRY:
        text = str(value)
        if 0 < len(text) <= 100:
            into[text] = None  # a dict keeps the order they came in, without repeats


def _collect(value, into, depth=0):
    if not isinstance(value, dict) or depth > 1:
        return
    for key in RECORD_KEYS:
        if key in value:
            _add(value[key], into)
    for key in RECORD_LIST_KEYS:
        if isinstance(value.get(key), list):
            for item in value[key][:MAX_RECORDS_PER_ENTRY]:
                _add(item, into)
    for key in NESTED_KEYS:
        _collect(value.get(key), into, depth + 1)


def touched_records(arguments, result, worker_ctx=None):
    """The ids and numbers a call named (its arguments), answered with (its result)
    and announced (its messages), in that order, each once."""
    into = {}
    for name, value in (arguments or {}).items():
        if name.endswith(("_id", "number", "code")):
            _add(value, into)
        elif name.endswith("_ids") and isinstance(value, list):
            for item in value[:MAX_RECORDS_PER_ENTRY]:
                _add(item, into)
        else:
            _collect(value, into)
    _collect(result, into)
    for record in (getattr(worker_ctx, "ekraf_touched", None) or {}):
        _add(record, into)
    return list(into)


# -- writing and reading ---------------------------------------------------------------

def make_entry(caller, method, records, outcome, call_id_stack, detail=None):
    caller = caller or access.Caller(client="(none)", roles=frozenset())
    return {
        "at": utcnow_precise(), "client": caller.client[:64], "roles": json.dumps(sorted(caller.roles)),
        "user_id": caller.user_id, "on_behalf_of": caller.on_behalf_of, "method": method,
        "outcome": outcome, "detail": (detail or None) and str(detail)[:500],
        "records": json.dumps(records), "call_id_stack": json.dumps(list(call_id_stack or [])),
    }


# On PostgreSQL the entry and its records go in one statement (one round trip inside
# the change's transaction, rather than two: the trail is on every change's path).
_WRITE_ON_POSTGRES = sa.text("""
    WITH entry AS (
        INSERT INTO audit_log (at, client, roles, user_id, on_behalf_of, method, outcome,
                               detail, records, call_id_stack)
        VALUES (:at, :client, :roles, :user_id, :on_behalf_of, :method, :outcome,
                :detail, :records, :call_id_stack)
        RETURNING id)
    INSERT INTO audit_records (audit_id, record)
    SELECT entry.id, record FROM entry, unnest(CAST(:record_list AS text[])) AS record""")


def write(connection, entry, at_commit=False):
    """Insert one entry (``connection``: a session or a connection in a transaction).
    ``at_commit``: a worker's session, on PostgreSQL: queued to go with the commit
    (``shared.db.write_at_commit``), in the same round trip as the call's messages."""
    records = json.loads(entry["records"])
    bind = connection.get_bind() if hasattr(connection, "get_bind") else connection
    if bind.dialect.name == "postgresql":
        if at_commit:
            write_at_commit(connection, _WRITE_ON_POSTGRES, {**entry, "record_list": records})
        else:
            connection.execute(_WRITE_ON_POSTGRES, {**entry, "record_list": records})
        return
    audit_id = connection.execute(
        audit_log.insert().returning(audit_log.c.id), entry).scalar_one()
    if records:
        connection.execute(audit_records.insert(),
                           [{"audit_id": audit_id, "record": record} for record in records])


def record_in_transaction(session_of, worker_ctx, caller, method, records):
    """A worker's change recorded with its commit; returns the worker's new exc_info
    when the entry cannot be written (then the change rolls back with it), else None.
    ``session_of``: the service's ``Database`` (its ``sessions`` by worker)."""
    try:
        write(session_of.sessions[worker_ctx], make_entry(
            caller, method, records, "ok", worker_ctx.call_id_stack), at_commit=True)
    except Exception:
        return sys.exc_info()
    return None


def write_alone(engine, entry):
    """Insert one entry in a transaction of its own (a refusal, a failed change)."""
    with engine.begin() as connection:
        write(connection, entry)


def _load_filters(filters):
    if filters is None:
        filters = {}
    if not isinstance(filters, dict):
        raise ValidationError.field("filters", "Must be an object.")
    unknown = sorted(set(filters) - FILTERS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in unknown})
    loaded = {}
    for name in ("client", "method", "record", "outcome"):
        value = filters.get(name)
        if value is not None:
            if not isinstance(value, str) or not 0 < len(value) <= 200:
                raise ValidationError.field(name, "Must be a string of 1 to 200 characters.")
            loaded[name] = value
    for name in ("since", "until"):
        if filters.get(name) is not None:
            loaded[name] = parse_input_time(filters[name], name)
    limit = filters.get("limit", 50)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 200:
        raise ValidationError.field("limit", "Must be a whole number from 1 to 200.")
    loaded["limit"] = limit
    after = decode_cursor(filters.get("cursor"), 1)
    if after is not None:
        if not isinstance(after[0], int) or isinstance(after[0], bool):
            raise ValidationError.field("cursor", "Not a valid cursor.")
        loaded["after"] = after[0]
    return loaded


def entry_record(row, service):
    return {
        "id": row.id, "at": iso(row.at), "service": service, "client": row.client,
        "roles": json.loads(row.roles), "user_id": row.user_id,
        "on_behalf_of": row.on_behalf_of, "method": row.method,
        "records": json.loads(row.records), "outcome": row.outcome, "detail": row.detail,
        "call_id_stack": json.loads(row.call_id_stack),
    }


def list_entries(session, service, filters):
    """One page of the trail, oldest first: ``{"items", "next_cursor"}``."""
    filters = _load_filters(filters)
    query = sa.select(audit_log)
    if "client" in filters:
        query = query.where(audit_log.c.client == filters["client"])
    if "method" in filters:
        method = filters["method"]
        if "." not in method:
            method = f"{service}.{method}"
        query = query.where(audit_log.c.method == method)
    if "outcome" in filters:
        query = query.where(audit_log.c.outcome == filters["outcome"])
    if "since" in filters:
        query = query.where(audit_log.c.at >= filters["since"])
    if "until" in filters:
        query = query.where(audit_log.c.at <= filters["until"])
    if "record" in filters:
        query = query.where(audit_log.c.id.in_(
            sa.select(audit_records.c.audit_id).where(audit_records.c.record == filters["record"])))
    if "after" in filters:
        query = query.where(audit_log.c.id > filters["after"])
    limit = filters["limit"]
    rows = session.execute(query.order_by(audit_log.c.id).limit(limit + 1)).all()
    page = rows[:limit]
    next_cursor = encode_cursor([page[-1].id]) if len(rows) > limit else None
    return {"items": [entry_record(row, service) for row in page], "next_cursor": next_cursor}
