"""a pathway's anchor date on its steps, and the follow-up check of a history entry

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("handoffs", sa.Column("pathway_anchor_date", sa.Date(), nullable=True))
    op.add_column("handoff_history", sa.Column("checkpoint_months", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("handoff_history") as batch:
        batch.drop_column("checkpoint_months")
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_column("pathway_anchor_date")
