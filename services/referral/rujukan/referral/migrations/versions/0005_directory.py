"""the service directory (entries and the outbox of their events), pre-flight warnings on referrals, and
referral events by type and time (each receiver's figures for matching)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rujukan.core.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE (SQLite 3.35+ and PostgreSQL): a batch copy of referrals would break the foreign keys
    op.add_column("referrals", sa.Column("warnings", sa.Text(), nullable=False, server_default="[]"))
    op.create_index("ix_referral_events_type_occurred", "referral_events", ["event_type", "occurred_at"])
    op.create_table(
        "directory_services",
        sa.Column("agency_code", sa.String(length=40), nullable=False),
        sa.Column("service_type", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("eligible_categories", sa.String(length=2000), nullable=False),
        sa.Column("eligible_sex", sa.String(length=100), nullable=False),
        sa.Column("min_age", sa.Integer(), nullable=True),
        sa.Column("max_age", sa.Integer(), nullable=True),
        sa.Column("regions", sa.Text(), nullable=False),
        sa.Column("languages", sa.String(length=500), nullable=False),
        sa.Column("contact_phone", sa.String(length=40), nullable=True),
        sa.Column("contact_email", sa.String(length=200), nullable=True),
        sa.Column("contact_url", sa.String(length=500), nullable=True),
        sa.Column("capacity_available", sa.Integer(), nullable=True),
        sa.Column("capacity_maximum", sa.Integer(), nullable=True),
        sa.Column("capacity_unit", sa.String(length=40), nullable=True),
        sa.Column("capacity_waitlist", sa.String(length=10), nullable=True),
        sa.Column("capacity_updated_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("capacity_rejections", sa.Integer(), nullable=False),
        sa.Column("last_capacity_rejection_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agency_code"], ["agencies.code"]),
        sa.PrimaryKeyConstraint("agency_code", "service_type"),
        sa.UniqueConstraint("id"),
    )
    op.create_table(
        "directory_events",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("occurred_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("published_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_directory_events_occurred_at", "directory_events", ["occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_directory_events_occurred_at", table_name="directory_events")
    op.drop_table("directory_events")
    op.drop_table("directory_services")
    op.drop_column("referrals", "warnings")
    op.drop_index("ix_referral_events_type_occurred", table_name="referral_events")
