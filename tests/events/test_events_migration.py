"""The events migrations build exactly the events models (and the foundation tables)."""
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services.events import models
from shared.db import make_engine
from shared.migrations import upgrade_to_head, version_table
from shared.tables import foundation_metadata


def test_the_migrations_build_exactly_the_models(fresh_db_url):
    expected = sa.MetaData()
    for table in [*models.Base.metadata.tables.values(), *foundation_metadata.tables.values()]:
        table.to_metadata(expected)
    engine = make_engine(fresh_db_url)
    upgrade_to_head(engine, "events", Path(models.__file__).parent / "migrations")
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), expected)
    engine.dispose()
    assert [d for d in differences
            if not (d[0] == "remove_table" and d[1].name == version_table("events"))] == []
