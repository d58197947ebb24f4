"""Crowd-support domain: voucher programmes, vouchers and their payments, instruments and their metering,
mentors and sessions, open patents and licence requests, one-stop service requests; the money tables (the
service pays providers), the booking engine's tables and the working-day calendar.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

from shared.booking.schema import create_booking_tables
from shared.migrations import create_holiday_calendar_table, create_money_tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_money_tables()
    create_booking_tables()
    create_holiday_calendar_table()
    op.create_table('cs_instruments',
    sa.Column('id', sa.String(64), nullable=False),
    sa.Column('owner_id', sa.String(64), nullable=False),
    sa.Column('institution', sa.String(200), nullable=False),
    sa.Column('name', sa.String(200), nullable=False),
    sa.Column('category', sa.String(100), nullable=False),
    sa.Column('location', sa.String(200), nullable=False),
    sa.Column('region_code', sa.String(6), nullable=False),
    sa.Column('hourly_rate_fen', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_cs_instruments_category'), 'cs_instruments', ['category'], unique=False)
    op.create_index(op.f('ix_cs_instruments_owner_id'), 'cs_instruments', ['owner_id'], unique=False)
    op.create_table('cs_mentors',
    sa.Column('id', sa.String(64), nullable=False),
    sa.Column('name', sa.String(200), nullable=False),
    sa.Column('bio', sa.String(2000), nullable=False),
    sa.Column('skills', sa.String(2000), nullable=False),
    sa.Column('availability', sa.String(4000), nullable=False),
    sa.Column('timezone', sa.String(64), nullable=False),
    sa.Column('resource_id', sa.String(64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('cs_patents',
    sa.Column('id', sa.String(64), nullable=False),
    sa.Column('holder_id', sa.String(64), nullable=False),
    sa.Column('holder_kind', sa.String(30), nullable=False),
    sa.Column('title', sa.String(200), nullable=False),
    sa.Column('patent_no', sa.String(40), nullable=True),
    sa.Column('field_of_use', sa.String(100), nullable=False),
    sa.Column('licence_terms', sa.String(20), nullable=False),
    sa.Column('royalty_fen', sa.BigInteger(), nullable=False),
    sa.Column('summary', sa.String(4000), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_cs_patents_field_of_use'), 'cs_patents', ['field_of_use'], unique=False)
    op.create_index(op.f('ix_cs_patents_holder_id'), 'cs_patents', ['holder_id'], unique=False)
    op.create_table('cs_programmes',
    sa.Column('id', sa.String(64), nullable=False),
    sa.Column('agency_id', sa.String(64), nullable=False),
    sa.Column('name', sa.String(200), nullable=False),
    sa.Column('kind', sa.String(20), nullable=False),
    sa.Column('region_code', sa.String(6), nullable=False),
    sa.Column('currency', sa.String(3), nullable=False),
    sa.Column('budget_fen', sa.BigInteger(), nullable=False),
    sa.Column('reserved_fen', sa.BigInteger(), nullable=False),
    sa.Column('spent_fen', sa.BigInteger(), nullable=False),
    sa.Column('per_enterprise_year_cap_fen', sa.BigInteger(), nullable=False),
    sa.Column('copay_ratio_pct', sa.Integer(), nullable=False),
    sa.Column('permitted_uses', sa.String(2000), nullable=False),
    sa.Column('recognised_regions', sa.String(2000), nullable=False),
    sa.Column('suspended', sa.Boolean(), nullable=False),
    sa.Column('policy_version', sa.String(40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('reserved_fen >= 0 AND spent_fen >= 0 AND reserved_fen + spent_fen <= budget_fen',
                       name='ck_cs_programmes_budget'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_cs_programmes_agency_id'), 'cs_programmes', ['agency_id'], unique=False)
    op.create_index(op.f('ix_cs_programmes_region_code'), 'cs_programmes', ['region_code'], unique=False)
    op.create_table('cs_service_requests',
    sa.Column('id', sa.String(64), nullable=False),
    sa.Column('requester_id', sa.String(64), nullable=False),
    sa.Column('kind', sa.String(30), nullable=False),
    sa.Column('title', sa.String(200), nullable=False),
    sa.Column('detail', sa.String(4000), nullable=False),
    sa.Column('state', sa.String(20), nullable=False),
    sa.Column('handler_id', sa.String(64), nullable=True),
    sa.Column('deadline_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution', sa.String(4000), nullable=True),
    sa.Column('policy_version', sa.String(40), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_cs_service_requests_handler_id'), 'cs_service_requests', ['handler_id'], unique=False)
    op.create_index(op.f('ix_cs_service_requests_requester_id'), 'cs_service_requests', ['requester_id'], unique=False)
    op.create_table('cs_enterprise_caps',
    sa.Column('programme_id', sa.String(64), nullable=False),
    sa.Column('enterprise_id', sa.String(64), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('issued_fen', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['programme_id'], ['cs_programmes.id'], ),
    sa.PrimaryKeyConstraint('programme_id', 'enterprise_id', 'year')
    )
    op.create_table('cs_instrument_usage',
    sa.Column('booking_id', sa.String(64), nullable=False),
    sa.Column('instrument_id', sa.String(64), nullable=False),
    sa.Column('owner_id', sa.String(64), nullable=False),
    sa.Column('user_id', sa.String(64), nullable=False),
    sa.Column('start_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('booked_minutes', sa.Integer(), nullable=False),
    sa.Column('hourly_rate_fen', sa.BigInteger(), nullable=False),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checked_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('actual_minutes', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['instrument_id'], ['cs_instruments.id'], ),
    sa.PrimaryKeyConstraint('booking_id')
    )
    op.create_index(op.f('ix_cs_instrument_usage_instrument_id'), 'cs_instrument_usage', ['instrument_id'],
                    unique=False)
    op.create_index(op.f('ix_cs_instrument_usage_owner_id'), 'cs_instrument_usage', ['owner_id'], unique=False)
    op.create_table('cs_licence_requests',
    sa.Column('id', sa.String(64), nullable=False),
    sa.Column('patent_id', sa.String(64), nullable=False),
    sa.Column('holder_id', sa.String(64), nullable=False),
    sa.Column('requester_id', sa.String(64), nullable=False),
    sa.Column('purpose', sa.String(2000), nullable=False),
    sa.Column('state', sa.String(20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(64), nullable=True),
    sa.Column('reason', sa.String(500), nullable=True),
    sa.ForeignKeyConstraint(['patent_id'], ['cs_patents.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_cs_licence_requests_holder_id'), 'cs_licence_requests', ['holder_id'], unique=False)
    op.create_index(op.f('ix_cs_licence_requests_patent_id'), 'cs_licence_requests', ['patent_id'], unique=False)
    op.create_index(op.f('ix_cs_licence_requests_requester_id'), 'cs_licence_requests', ['requester_id'], unique=False)
    op.create_table('cs_mentor_sessions',
    sa.Column('booking_id', sa.String(64), nullable=False),
    sa.Column('mentor_id', sa.String(64), nullable=False),
    sa.Column('startup_id', sa.String(64), nullable=False),
    sa.Column('topic', sa.String(200), nullable=False),
    sa.Column('start_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('feedback', sa.String(2000), nullable=True),
    sa.Column('feedback_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['mentor_id'], ['cs_mentors.id'], ),
    sa.PrimaryKeyConstraint('booking_id')
    )
    op.create_index(op.f('ix_cs_mentor_sessions_mentor_id'), 'cs_mentor_sessions', ['mentor_id'], unique=False)
    op.create_index(op.f('ix_cs_mentor_sessions_startup_id'), 'cs_mentor_sessions', ['startup_id'], unique=False)
    op.create_table('cs_programme_providers',
    sa.Column('programme_id', sa.String(64), nullable=False),
    sa.Column('provider_id', sa.String(64), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['programme_id'], ['cs_programmes.id'], ),
    sa.PrimaryKeyConstraint('programme_id', 'provider_id')
    )
    op.create_table('cs_vouchers',
    sa.Column('id', sa.String(64), nullable=False),
    sa.Column('programme_id', sa.String(64), nullable=False),
    sa.Column('agency_id', sa.String(64), nullable=False),
    sa.Column('enterprise_id', sa.String(64), nullable=False),
    sa.Column('currency', sa.String(3), nullable=False),
    sa.Column('face_fen', sa.BigInteger(), nullable=False),
    sa.Column('use', sa.String(100), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(20), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('provider_id', sa.String(64), nullable=True),
    sa.Column('redeemed_via', sa.String(100), nullable=True),
    sa.Column('contract_no', sa.String(100), nullable=True),
    sa.Column('contract_amount_fen', sa.BigInteger(), nullable=True),
    sa.Column('invoice_no', sa.String(100), nullable=True),
    sa.Column('payment_proof', sa.String(200), nullable=True),
    sa.Column('voucher_fen', sa.BigInteger(), nullable=False),
    sa.Column('copay_fen', sa.BigInteger(), nullable=False),
    sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(64), nullable=True),
    sa.Column('reason', sa.String(500), nullable=True),
    sa.Column('paid_fen', sa.BigInteger(), nullable=False),
    sa.Column('clawed_back_fen', sa.BigInteger(), nullable=False),
    sa.Column('policy_version', sa.String(40), nullable=False),
    sa.ForeignKeyConstraint(['programme_id'], ['cs_programmes.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_cs_vouchers_enterprise_id'), 'cs_vouchers', ['enterprise_id'], unique=False)
    op.create_index(op.f('ix_cs_vouchers_programme_id'), 'cs_vouchers', ['programme_id'], unique=False)
    op.create_index(op.f('ix_cs_vouchers_provider_id'), 'cs_vouchers', ['provider_id'], unique=False)
    op.create_table('cs_voucher_payments',
    sa.Column('id', sa.String(64), nullable=False),
    sa.Column('voucher_id', sa.String(64), nullable=False),
    sa.Column('kind', sa.String(20), nullable=False),
    sa.Column('party_id', sa.String(64), nullable=False),
    sa.Column('currency', sa.String(3), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('idempotency_key', sa.String(120), nullable=False),
    sa.Column('status', sa.String(20), nullable=False),
    sa.Column('reference', sa.String(120), nullable=True),
    sa.Column('failure', sa.String(300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['voucher_id'], ['cs_vouchers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    op.create_index(op.f('ix_cs_voucher_payments_voucher_id'), 'cs_voucher_payments', ['voucher_id'], unique=False)


def downgrade() -> None:
    raise RuntimeError("not reversible; drop the database instead")
