"""dashboard sessions and region-scoped coordinator credentials

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rujukan.core.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tracker_credentials") as batch:
        batch.add_column(sa.Column("region_scope", sa.String(length=13), nullable=True))
    op.create_table(
        "tracker_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("credential_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_tracker_sessions_credential_id", "tracker_sessions", ["credential_id"])


def downgrade() -> None:
    op.drop_index("ix_tracker_sessions_credential_id", table_name="tracker_sessions")
    op.drop_table("tracker_sessions")
    with op.batch_alter_table("tracker_credentials") as batch:
        batch.drop_column("region_scope")
