"""Bring a service's schema up to date on start, safely when instances race.

Each service has its own Alembic history (``services/<name>/migrations``) and its
own version table (``alembic_version_<name>``). On PostgreSQL the upgrade runs
under an advisory lock keyed by the service name, so two instances starting at
once migrate one after the other; the second finds nothing left to do.
"""
import logging
import threading
import zlib

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from shared.db import is_postgres

log = logging.getLogger(__name__)


def version_table(service_name):
    return f"alembic_version_{service_name}"


def advisory_lock_key(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


# Alembic's ``op`` and ``context`` are module-wide proxies: two upgrades at once in one
# process (a service's schema and the client registry's, set up side by side by nameko
# in green threads) would send one's statements down the other's connection.
_one_upgrade_at_a_time = threading.Lock()


def upgrade_to_head(engine, service_name, migrations_dir):
    with _one_upgrade_at_a_time:
        _upgrade_to_head(engine, service_name, migrations_dir)


def _upgrade_to_head(engine, service_name, migrations_dir):
    alembic_config = Config()
    alembic_config.set_main_option("script_location", str(migrations_dir))
    alembic_config.attributes["version_table"] = version_table(service_name)
    with engine.connect() as connection:
        if is_postgres(connection):
            connection.execute(
                text("SELECT pg_advisory_lock(:key)"),
                {"key": advisory_lock_key(f"migrate:{service_name}")},
            )
            connection.commit()
        try:
            alembic_config.attributes["connection"] = connection
            command.upgrade(alembic_config, "head")
            connection.commit()
        finally:
            if is_postgres(connection):
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"),
                    {"key": advisory_lock_key(f"migrate:{service_name}")},
                )
                connection.commit()
    log.info("%s schema is at head", service_name)


def run_migrations(context, target_metadata=None):
    """The body of every service's ``migrations/env.py``."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "migrations run when the service starts (shared.migrations.upgrade_to_head); "
            "they are not meant to be run with the alembic command"
        )
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=context.config.attributes["version_table"],
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
