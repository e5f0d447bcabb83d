"""the referral a referral continues (case continuity: a person's pathway across agencies)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE (SQLite 3.35+ and PostgreSQL): a batch copy of referrals would break the foreign keys
    op.add_column("referrals", sa.Column("continues_referral_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    op.drop_column("referrals", "continues_referral_id")
