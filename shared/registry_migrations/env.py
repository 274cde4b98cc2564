from alembic import context

from shared.migrations import run_migrations
from shared.registry import metadata

run_migrations(context, metadata)
