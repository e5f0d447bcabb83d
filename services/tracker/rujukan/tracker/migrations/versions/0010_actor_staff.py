"""the pseudonym of the agency's person who acted, on each history entry (events carry it from the staff
accounts of the agency inbox on)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("handoff_history", sa.Column("actor_staff", sa.String(length=24), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("handoff_history") as batch:
        batch.drop_column("actor_staff")
