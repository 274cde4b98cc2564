"""Schemes, assessors, sessions, applications, certificates, signing keys, the
member and attendance views, and the foundation tables (outbox, processed).

Revision ID: 0001
Revises: 
Create Date: 2026-11-28 04:43:12.854486
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
    op.create_table('assessors',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('full_name', sa.String(length=120), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('registration_number', sa.String(length=60), nullable=False),
    sa.Column('scheme_codes', sa.JSON(), nullable=False),
    sa.Column('member_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('registration_number')
    )
    op.create_table('member_views',
    sa.Column('member_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('full_name', sa.String(length=120), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('locale', sa.String(length=2), nullable=False),
    sa.Column('source_updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('member_id')
    )
    op.create_table('schemes',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('subsector', sa.String(length=40), nullable=False),
    sa.Column('skkni_ref', sa.String(length=200), nullable=False),
    sa.Column('units', sa.JSON(), nullable=False),
    sa.Column('validity_months', sa.Integer(), nullable=False),
    sa.Column('requires_training', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_index(op.f('ix_schemes_subsector'), 'schemes', ['subsector'], unique=False)
    op.create_table('signing_keys',
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('public_jwk', sa.JSON(), nullable=False),
    sa.Column('first_used_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('kid')
    )
    op.create_table('training_attendance',
    sa.Column('member_id', sa.String(length=36), nullable=False),
    sa.Column('scheme_code', sa.String(length=40), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('attended_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('member_id', 'scheme_code', 'event_id')
    )
    op.create_table('assessment_sessions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('scheme_code', sa.String(length=40), nullable=False),
    sa.Column('venue', sa.String(length=200), nullable=False),
    sa.Column('starts_at', UTCDateTime(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('assessor_ids', sa.JSON(), nullable=False),
    sa.Column('seats_taken', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['scheme_code'], ['schemes.code'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_assessment_sessions_scheme_code'), 'assessment_sessions', ['scheme_code'], unique=False)
    op.create_table('applications',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('member_id', sa.String(length=36), nullable=False),
    sa.Column('scheme_code', sa.String(length=40), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('self_assessment', sa.JSON(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('decided_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['scheme_code'], ['schemes.code'], ),
    sa.ForeignKeyConstraint(['session_id'], ['assessment_sessions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_applications_created_at_id', 'applications', ['created_at', 'id'], unique=False)
    op.create_index(op.f('ix_applications_member_id'), 'applications', ['member_id'], unique=False)
    op.create_index(op.f('ix_applications_session_id'), 'applications', ['session_id'], unique=False)
    op.create_index(op.f('ix_applications_status'), 'applications', ['status'], unique=False)
    op.create_index('uq_applications_open', 'applications', ['member_id', 'scheme_code'], unique=True, postgresql_where=sa.text("status = 'submitted'"), sqlite_where=sa.text("status = 'submitted'"))
    op.create_table('certificates',
    sa.Column('number', sa.String(length=30), nullable=False),
    sa.Column('application_id', sa.String(length=36), nullable=False),
    sa.Column('member_id', sa.String(length=36), nullable=False),
    sa.Column('holder_name', sa.String(length=120), nullable=False),
    sa.Column('scheme_code', sa.String(length=40), nullable=False),
    sa.Column('scheme_title', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('issued_at', UTCDateTime(), nullable=False),
    sa.Column('valid_until', UTCDateTime(), nullable=False),
    sa.Column('credential', sa.Text(), nullable=False),
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('reminders_sent', sa.JSON(), nullable=False),
    sa.Column('status_reason', sa.String(length=500), nullable=True),
    sa.Column('created_seq', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], ),
    sa.ForeignKeyConstraint(['scheme_code'], ['schemes.code'], ),
    sa.PrimaryKeyConstraint('number'),
    sa.UniqueConstraint('application_id')
    )
    op.create_index('ix_certificates_created_seq_number', 'certificates', ['created_seq', 'number'], unique=False)
    op.create_index(op.f('ix_certificates_member_id'), 'certificates', ['member_id'], unique=False)
    op.create_index(op.f('ix_certificates_scheme_code'), 'certificates', ['scheme_code'], unique=False)
    op.create_index(op.f('ix_certificates_status'), 'certificates', ['status'], unique=False)
    op.create_index(op.f('ix_certificates_valid_until'), 'certificates', ['valid_until'], unique=False)
    create_foundation_tables(op)


def downgrade():
    op.drop_table('processed_messages')
    op.drop_table('outbox_messages')
    op.drop_index(op.f('ix_certificates_valid_until'), table_name='certificates')
    op.drop_index(op.f('ix_certificates_status'), table_name='certificates')
    op.drop_index(op.f('ix_certificates_scheme_code'), table_name='certificates')
    op.drop_index(op.f('ix_certificates_member_id'), table_name='certificates')
    op.drop_index('ix_certificates_created_seq_number', table_name='certificates')
    op.drop_table('certificates')
    op.drop_index('uq_applications_open', table_name='applications', postgresql_where=sa.text("status = 'submitted'"), sqlite_where=sa.text("status = 'submitted'"))
    op.drop_index(op.f('ix_applications_status'), table_name='applications')
    op.drop_index(op.f('ix_applications_session_id'), table_name='applications')
    op.drop_index(op.f('ix_applications_member_id'), table_name='applications')
    op.drop_index('ix_applications_created_at_id', table_name='applications')
    op.drop_table('applications')
    op.drop_index(op.f('ix_assessment_sessions_scheme_code'), table_name='assessment_sessions')
    op.drop_table('assessment_sessions')
    op.drop_table('training_attendance')
    op.drop_table('signing_keys')
    op.drop_index(op.f('ix_schemes_subsector'), table_name='schemes')
    op.drop_table('schemes')
    op.drop_table('member_views')
    op.drop_table('assessors')
