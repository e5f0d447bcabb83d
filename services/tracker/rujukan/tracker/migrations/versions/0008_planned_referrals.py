"""planned referrals and pathway steps: their send times and pathway, and no SLA due times until sent

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

UTC = rujukan.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.add_column("handoffs", sa.Column("planned_for", UTC, nullable=True))
    op.add_column("handoffs", sa.Column("sent_at", UTC, nullable=True))
    op.add_column("handoffs", sa.Column("pathway_id", sa.String(length=36), nullable=True))
    op.add_column("handoffs", sa.Column("pathway_template", sa.String(length=60), nullable=True))
    op.add_column("handoffs", sa.Column("pathway_step", sa.String(length=60), nullable=True))
    op.create_index("ix_handoffs_pathway_id", "handoffs", ["pathway_id"])
    with op.batch_alter_table("handoffs") as batch:  # a planned referral's clocks have not started
        batch.alter_column("ack_due_at", existing_type=UTC, nullable=True)
        batch.alter_column("respond_due_at", existing_type=UTC, nullable=True)


def downgrade() -> None:
    op.drop_index("ix_handoffs_pathway_id", table_name="handoffs")
    with op.batch_alter_table("handoffs") as batch:
        for column in ("pathway_step", "pathway_template", "pathway_id", "sent_at", "planned_for"):
            batch.drop_column(column)
