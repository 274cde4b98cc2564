"""The client registry: clients (hashes of their secrets, never the secrets) and the
version every service polls to know when to reload them.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "clients",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("roles", sa.Text, nullable=False),
        sa.Column("member_id", sa.String(36)),
        sa.Column("assessor_id", sa.String(36)),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("rotated_at", UTCDateTime),
        sa.Column("revoked_at", UTCDateTime),
        sa.Column("seen_at", UTCDateTime),
    )
    # One active client per name (service processes share their service's name).
    op.create_index(
        "ux_clients_active_name", "clients", ["name"], unique=True,
        postgresql_where=sa.text("kind = 'client' AND revoked_at IS NULL"),
        sqlite_where=sa.text("kind = 'client' AND revoked_at IS NULL"))
    op.create_table(
        "registry_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO registry_state (id, version) VALUES (1, 1)")


def downgrade():
    op.drop_table("registry_state")
    op.drop_index("ux_clients_active_name", "clients")
    op.drop_table("clients")
