"""Contacts, preferences, inbox notifications, deliveries, and the foundation
tables (outbox, processed).

Revision ID: 0001
Revises: 
Create Date: 2026-11-28 05:14:28.422869
"""
from alembic import op
import sqlalchemy as sa

from shared.db import UTCDateTime
from shared.tables import create_foundation_tables


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('contacts',
    sa.Column('member_id', sa.String(length=36), nullable=False),
    sa.Column('full_name', sa.String(length=120), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('locale', sa.String(length=2), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('subsector', sa.String(length=40), nullable=False),
    sa.Column('city', sa.String(length=80), nullable=False),
    sa.Column('city_key', sa.String(length=80), nullable=False),
    sa.Column('source_updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('member_id')
    )
    op.create_index(op.f('ix_contacts_city_key'), 'contacts', ['city_key'], unique=False)
    op.create_index(op.f('ix_contacts_status'), 'contacts', ['status'], unique=False)
    op.create_index(op.f('ix_contacts_subsector'), 'contacts', ['subsector'], unique=False)
    op.create_table('deliveries',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('member_id', sa.String(length=36), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('source_event_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('recipient', sa.String(length=254), nullable=True),
    sa.Column('locale', sa.String(length=2), nullable=False),
    sa.Column('subject', sa.String(length=250), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('sent_at', UTCDateTime(), nullable=True),
    sa.Column('next_attempt_at', UTCDateTime(), nullable=True),
    sa.Column('locked_until', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_event_id', 'member_id', 'channel', name='uq_deliveries_once')
    )
    op.create_index('ix_deliveries_created_at_id', 'deliveries', ['created_at', 'id'], unique=False)
    op.create_index('ix_deliveries_due', 'deliveries', ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_deliveries_event_type'), 'deliveries', ['event_type'], unique=False)
    op.create_index(op.f('ix_deliveries_member_id'), 'deliveries', ['member_id'], unique=False)
    op.create_table('notifications',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('member_id', sa.String(length=36), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('source_event_id', sa.String(length=36), nullable=False),
    sa.Column('subject', sa.String(length=250), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('read_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_event_id', 'member_id', name='uq_notifications_once')
    )
    op.create_index('ix_notifications_inbox', 'notifications', ['member_id', 'created_at', 'id'], unique=False)
    op.create_table('preferences',
    sa.Column('member_id', sa.String(length=36), nullable=False),
    sa.Column('email', sa.Boolean(), nullable=False),
    sa.Column('sms', sa.Boolean(), nullable=False),
    sa.Column('announcements', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('member_id')
    )
    create_foundation_tables(op)


def downgrade():
    op.drop_table('processed_messages')
    op.drop_table('outbox_messages')
    op.drop_table('preferences')
    op.drop_index('ix_notifications_inbox', table_name='notifications')
    op.drop_table('notifications')
    op.drop_index(op.f('ix_deliveries_member_id'), table_name='deliveries')
    op.drop_index(op.f('ix_deliveries_event_type'), table_name='deliveries')
    op.drop_index('ix_deliveries_due', table_name='deliveries')
    op.drop_index('ix_deliveries_created_at_id', table_name='deliveries')
    op.drop_table('deliveries')
    op.drop_index(op.f('ix_contacts_subsector'), table_name='contacts')
    op.drop_index(op.f('ix_contacts_status'), table_name='contacts')
    op.drop_index(op.f('ix_contacts_city_key'), table_name='contacts')
    op.drop_table('contacts')
