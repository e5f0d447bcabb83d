"""transparency log: event signatures, log indexes, tree nodes and signed checkpoints

Events stored before this revision have no signature and no log index. They are marked as legacy (up to
the highest position now stored): the first referral service started after the upgrade (it has the
signing key) signs them and clears the mark; the relay then gives them their log indexes in the order
they were stored. Every event is published again, this time with its log index and signature in the
headers (consumers drop the copies by event id). Stop every instance of the previous version first: one
still writing would store unsigned events, which the relay refuses.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

import rujukan.core.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("referral_events") as batch:
        batch.add_column(sa.Column("signature", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("log_index", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("refused", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("refused_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("dead_lettered_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=True))
        batch.drop_index("ix_referral_events_unpublished")
        batch.create_index("ix_referral_events_unpublished", ["published_at", "log_index"], unique=False)
        batch.create_index("ix_referral_events_log_index", ["log_index"], unique=True)
        batch.create_index("ix_referral_events_refused", ["refused"], unique=False)
    op.create_table(
        "log_nodes",
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("referral_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("level", "idx"),
    )
    state = op.create_table(
        "log_state",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("legacy_position", sa.BigInteger(), nullable=False),
        sa.Column("verifier_key", sa.String(length=400), nullable=True),
        sa.Column("updated_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.String(length=4000), nullable=False),
        sa.Column("created_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tree_size"),
    )
    stored = op.get_bind().execute(sa.text("SELECT coalesce(max(position), 0) FROM referral_events")).scalar()
    op.bulk_insert(
        state,
        [
            {
                "name": "referral-events",
                "size": 0,
                "legacy_position": int(stored or 0),
                "updated_at": dt.datetime.now(dt.UTC),
            }
        ],
    )
    op.execute("UPDATE referral_events SET published_at = NULL")


def downgrade() -> None:
    op.drop_table("log_checkpoints")
    op.drop_table("log_state")
    op.drop_table("log_nodes")
    with op.batch_alter_table("referral_events") as batch:
        batch.drop_index("ix_referral_events_refused")
        batch.drop_index("ix_referral_events_log_index")
        batch.drop_index("ix_referral_events_unpublished")
        batch.create_index("ix_referral_events_unpublished", ["published_at", "position"], unique=False)
        batch.drop_column("dead_lettered_at")
        batch.drop_column("refused_at")
        batch.drop_column("refused")
        batch.drop_column("log_index")
        batch.drop_column("signature")
