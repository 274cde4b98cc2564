"""Trigram indexes for members.list's ``q`` (name or business, anywhere in the text).

``lower(full_name) LIKE '%q%'`` cannot use a b-tree: without these, every page of a
search scans the whole table (docs/performance.md).
pg_trgm is a trusted extension: the members login, owner of its database, may create
it. SQLite (development without PostgreSQL) scans, as before.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = {"ix_members_full_name_trgm": "full_name",
           "ix_members_business_name_trgm": "business_name"}


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON members USING gin (lower({column}) gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
