"""planned referrals and pathway steps (a pathway template started for one person), and the templates

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rujukan.core.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE (SQLite 3.35+ and PostgreSQL): a batch copy of referrals would break the foreign keys
    op.add_column("referrals", sa.Column("planned_for", rujukan.core.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column("referrals", sa.Column("pathway_id", sa.String(length=36), nullable=True))
    op.add_column("referrals", sa.Column("pathway_template", sa.String(length=60), nullable=True))
    op.add_column("referrals", sa.Column("pathway_step", sa.String(length=60), nullable=True))
    op.add_column("referrals", sa.Column("pathway_anchor_date", sa.Date(), nullable=True))
    op.add_column("referrals", sa.Column("step_sla", sa.String(length=200), nullable=True))
    op.create_index("ix_referrals_status_planned", "referrals", ["status", "planned_for"])
    op.create_index("ix_referrals_pathway", "referrals", ["pathway_id"])
    op.create_table(
        "pathway_templates",
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("loaded_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )


def downgrade() -> None:
    op.drop_table("pathway_templates")
    op.drop_index("ix_referrals_pathway", table_name="referrals")
    op.drop_index("ix_referrals_status_planned", table_name="referrals")
    for column in ("step_sla", "pathway_anchor_date", "pathway_step", "pathway_template", "pathway_id", "planned_for"):
        op.drop_column("referrals", column)
