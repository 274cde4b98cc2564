"""Assessor schemes in a table of their own, so assessors can be listed by scheme.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "assessor_schemes",
        sa.Column("assessor_id", sa.String(length=36), sa.ForeignKey("assessors.id"),
                  primary_key=True),
        sa.Column("scheme_code", sa.String(length=40), sa.ForeignKey("schemes.code"),
                  primary_key=True),
    )
    op.create_index(op.f("ix_assessor_schemes_scheme_code"), "assessor_schemes",
                    ["scheme_code"], unique=False)
    connection = op.get_bind()
    links = []
    for assessor_id, scheme_codes in connection.execute(
            sa.text("SELECT id, scheme_codes FROM assessors")):
        codes = json.loads(scheme_codes) if isinstance(scheme_codes, str) else scheme_codes
        links.extend({"assessor_id": assessor_id, "scheme_code": code} for code in set(codes))
    if links:
        connection.execute(sa.text(
            "INSERT INTO assessor_schemes (assessor_id, scheme_code) "
            "VALUES (:assessor_id, :scheme_code)"), links)
    with op.batch_alter_table("assessors") as batch:
        batch.drop_column("scheme_codes")


def downgrade():
    with op.batch_alter_table("assessors") as batch:
        batch.add_column(sa.Column("scheme_codes", sa.JSON(), nullable=True))
    connection = op.get_bind()
    codes = {}
    for assessor_id, scheme_code in connection.execute(
            sa.text("SELECT assessor_id, scheme_code FROM assessor_schemes")):
        codes.setdefault(assessor_id, []).append(scheme_code)
    for assessor_id, scheme_codes in codes.items():
        connection.execute(sa.text("UPDATE assessors SET scheme_codes = :codes WHERE id = :id"),
                           {"codes": json.dumps(sorted(scheme_codes)), "id": assessor_id})
    op.drop_index(op.f("ix_assessor_schemes_scheme_code"), table_name="assessor_schemes")
    op.drop_table("assessor_schemes")
