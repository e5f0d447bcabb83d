"""the directory's capacity view and the links between parallel referrals

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rujukan.core.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "parallel_links",
        sa.Column("referral_id", sa.String(length=36), nullable=False),
        sa.Column("other_referral_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("referral_id", "other_referral_id"),
    )
    op.create_index("ix_parallel_links_other_referral_id", "parallel_links", ["other_referral_id"])
    op.create_table(
        "directory_entries",
        sa.Column("agency_code", sa.String(length=40), nullable=False),
        sa.Column("service_type", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("regions", sa.Text(), nullable=False),
        sa.Column("available", sa.Integer(), nullable=True),
        sa.Column("maximum", sa.Integer(), nullable=True),
        sa.Column("unit", sa.String(length=40), nullable=True),
        sa.Column("waitlist", sa.String(length=20), nullable=True),
        sa.Column("capacity_updated_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agency_code", "service_type"),
    )


def downgrade() -> None:
    op.drop_table("directory_entries")
    op.drop_index("ix_parallel_links_other_referral_id", table_name="parallel_links")
    op.drop_table("parallel_links")
