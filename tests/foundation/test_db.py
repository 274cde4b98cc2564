"""Sessions and migrations against the real PostgreSQL."""
import importlib
import time
from pathlib import Path

import eventlet
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy

from services.members.service import MembersService
from shared.db import make_engine
from shared.migrations import upgrade_to_head, version_table
from shared.audit import metadata as audit_metadata
from shared.tables import foundation_metadata
from tests.foundation import ledger_service
from tests.support.waiting import wait_until
from tests.support.identities import admin_context


def _running_pg_sleeps(db_url):
    """How many pg_sleep queries run right now on ``db_url``'s database."""
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'active' AND query LIKE 'SELECT pg_sleep%'")).scalar()
    finally:
        engine.dispose()


def test_a_slow_query_does_not_stall_the_other_workers(base_config, ledger_db_url):
    container = ServiceContainer(ledger_service.SlowLedgerService,
                                 {**base_config, "SLOW_LEDGER_TEST_DB_URL": ledger_db_url})
    container.start()
    try:
        with ClusterRpcProxy(base_config, context_data=admin_context()) as rpc:
            slow = rpc.slow_ledger_test.slow.call_async(3)
            wait_until(lambda: _running_pg_sleeps(ledger_db_url) == 1,
                       message="the slow query running on the server")
            started = time.monotonic()
            rpc.slow_ledger_test.record("quick")
            quick_took = time.monotonic() - started
            assert slow.result() == 3
    finally:
        container.stop()
    # Without psycogreen, psycopg2 would block the whole process for the 3 seconds.
    assert quick_took < 1.5


def test_instances_starting_at_once_migrate_one_after_the_other(fresh_db_url):
    migrations = MembersService.db.migrations_dir
    engines = [make_engine(fresh_db_url) for _ in range(3)]
    results = list(eventlet.GreenPool(3).imap(
        lambda engine: upgrade_to_head(engine, "members", migrations) or "ok", engines))
    assert results == ["ok"] * 3
    with engines[0].connect() as connection:
        versions = connection.execute(
            sa.text(f"SELECT version_num FROM {version_table('members')}")).scalars().all()
        tables = set(sa.inspect(connection).get_table_names())
    assert versions == ["0003"]  # the head, applied once
    assert {"members", "member_number_sequences", "outbox_messages",
            "processed_messages"} <= tables
    for engine in engines:
        engine.dispose()


@pytest.mark.parametrize("service", ["members", "certification", "events", "notifications"])
def test_each_services_migrations_build_exactly_its_models(service, fresh_db_url):
    """A model changed without a migration (or the reverse) fails here, not in production."""
    models = importlib.import_module(f"services.{service}.models")
    expected = sa.MetaData()
    for table in [*models.Base.metadata.tables.values(), *foundation_metadata.tables.values(),
                  *audit_metadata.tables.values()]:
        table.to_metadata(expected)
    engine = make_engine(fresh_db_url)
    upgrade_to_head(engine, service, Path(models.__file__).parent / "migrations")
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), expected)
    engine.dispose()
    expression_indexes = getattr(models, "EXPRESSION_INDEXES", ())
    differences = [d for d in differences
                   if not (d[0] == "remove_table" and d[1].name == version_table(service))
                   and not (d[0] == "remove_index" and d[1].name in expression_indexes)]
    assert differences == []
