"""staff accounts of the agency inbox (a person per secret; events record their pseudonym), their sign-in
sessions, and a referral's SLA due times as its events carry them (for the inbox)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rujukan.core.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("agency_code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=16), nullable=False),
        sa.Column("created_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agency_code"], ["agencies.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_hash"),
    )
    op.create_index("ix_staff_agency_code", "staff", ["agency_code"])
    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.String(length=24), nullable=False),
        sa.Column("created_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_staff_sessions_staff_id", "staff_sessions", ["staff_id"])
    # plain ALTER TABLE (a batch copy of referrals would break the foreign keys); rows made before keep
    # None, and the inbox works their due times out as the events did
    op.add_column("referrals", sa.Column("ack_due_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column("referrals", sa.Column("respond_due_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("referrals", "respond_due_at")
    op.drop_column("referrals", "ack_due_at")
    op.drop_index("ix_staff_sessions_staff_id", table_name="staff_sessions")
    op.drop_table("staff_sessions")
    op.drop_index("ix_staff_agency_code", table_name="staff")
    op.drop_table("staff")
