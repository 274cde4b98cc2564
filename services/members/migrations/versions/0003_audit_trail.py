"""The audit trail (shared/audit.py): who changed what, and who was refused.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""
from alembic import op

from shared.audit import create_audit_tables, drop_audit_tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    create_audit_tables(op)


def downgrade():
    drop_audit_tables(op)
