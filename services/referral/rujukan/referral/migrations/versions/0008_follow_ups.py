"""when a referral was completed (a pathway's follow-up checks count from its last completion), and the
sealed assessment that travels with a referral

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rujukan.core.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE (SQLite 3.35+ and PostgreSQL): a batch copy of referrals would break the foreign keys
    op.add_column("referrals", sa.Column("completed_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column("referrals", sa.Column("sealed_assessment", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("referrals", "sealed_assessment")
    op.drop_column("referrals", "completed_at")
