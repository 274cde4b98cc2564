"""Members, member-number counter, and the foundation tables (outbox, processed).

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime
from shared.tables import create_foundation_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "members",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("member_number", sa.String(20), unique=True),
        sa.Column("full_name", sa.String(120), nullable=False),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("city", sa.String(80), nullable=False),
        sa.Column("province", sa.String(80), nullable=False),
        sa.Column("subsector", sa.String(40), nullable=False),
        sa.Column("business_name", sa.String(160)),
        sa.Column("nib", sa.String(13)),
        sa.Column("locale", sa.String(2), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("active_since", UTCDateTime),
        sa.Column("valid_until", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_members_city", "members", ["city"])
    op.create_index("ix_members_subsector", "members", ["subsector"])
    op.create_index("ix_members_status", "members", ["status"])
    op.create_index("ix_members_valid_until", "members", ["valid_until"])
    op.create_index("ix_members_created_at_id", "members", ["created_at", "id"])
    op.create_table(
        "member_number_sequences",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_number", sa.Integer, nullable=False),
    )
    create_foundation_tables(op)


def downgrade():
    op.drop_table("member_number_sequences")
    op.drop_table("members")
    op.drop_table("processed_messages")
    op.drop_table("outbox_messages")
