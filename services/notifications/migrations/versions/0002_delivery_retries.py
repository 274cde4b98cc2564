"""Deliveries an operator sent again: how often (``retries``), when last
(``retried_at``), and the attempts made before the last re-queue (the backoff
counts from there, so a re-queued delivery gets the whole schedule again).

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

from shared.db import UTCDateTime


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('deliveries', sa.Column('retries', sa.Integer(), nullable=False,
                                          server_default='0'))
    op.add_column('deliveries', sa.Column('retried_at', UTCDateTime(), nullable=True))
    op.add_column('deliveries', sa.Column('attempts_before_retry', sa.Integer(),
                                          nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('deliveries') as batch:
        batch.drop_column('attempts_before_retry')
        batch.drop_column('retried_at')
        batch.drop_column('retries')
