"""Events and their subsectors, registrations, the member view, and the
foundation tables (outbox, processed).

Revision ID: 0001
Revises: 
Create Date: 2026-11-28 05:02:02.547857
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
    op.create_table('events',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('venue', sa.String(length=200), nullable=False),
    sa.Column('city', sa.String(length=80), nullable=False),
    sa.Column('starts_at', UTCDateTime(), nullable=False),
    sa.Column('ends_at', UTCDateTime(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('registration_closes_at', UTCDateTime(), nullable=False),
    sa.Column('members_only', sa.Boolean(), nullable=False),
    sa.Column('scheme_code', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('confirmed_count', sa.Integer(), nullable=False),
    sa.Column('waitlist_count', sa.Integer(), nullable=False),
    sa.Column('cancellation_reason', sa.String(length=500), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_events_starts_at_id', 'events', ['starts_at', 'id'], unique=False)
    op.create_table('member_views',
    sa.Column('member_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('subsector', sa.String(length=40), nullable=False),
    sa.Column('city', sa.String(length=80), nullable=False),
    sa.Column('source_updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('member_id')
    )
    op.create_table('event_subsectors',
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('subsector', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], ),
    sa.PrimaryKeyConstraint('event_id', 'subsector')
    )
    op.create_index(op.f('ix_event_subsectors_subsector'), 'event_subsectors', ['subsector'], unique=False)
    op.create_table('registrations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('member_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('position', sa.Integer(), nullable=True),
    sa.Column('registered_at', UTCDateTime(), nullable=False),
    sa.Column('checked_in_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_registrations_event_registered_at_id', 'registrations', ['event_id', 'registered_at', 'id'], unique=False)
    op.create_index('uq_registrations_standing', 'registrations', ['event_id', 'member_id'], unique=True, postgresql_where=sa.text("status <> 'cancelled'"), sqlite_where=sa.text("status <> 'cancelled'"))
    create_foundation_tables(op)


def downgrade():
    op.drop_table('processed_messages')
    op.drop_table('outbox_messages')
    op.drop_index('uq_registrations_standing', table_name='registrations', postgresql_where=sa.text("status <> 'cancelled'"), sqlite_where=sa.text("status <> 'cancelled'"))
    op.drop_index('ix_registrations_event_registered_at_id', table_name='registrations')
    op.drop_table('registrations')
    op.drop_index(op.f('ix_event_subsectors_subsector'), table_name='event_subsectors')
    op.drop_table('event_subsectors')
    op.drop_table('member_views')
    op.drop_index('ix_events_starts_at_id', table_name='events')
    op.drop_table('events')
