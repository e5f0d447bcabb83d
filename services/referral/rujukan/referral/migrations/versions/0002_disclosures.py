"""disclosures

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rujukan.core.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "disclosures",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("auditor_credential_id", sa.String(length=36), nullable=False),
        sa.Column("occurred_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("published_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("event_id"),
    )


def downgrade() -> None:
    op.drop_table("disclosures")
