"""subjects scoped to their controller, and restriction

Every subject gets the agency that controls it and an internal person link. Subjects made before belong
to the agency that created their first referral: their NIK index stays the system-wide one (an agency
sending that NIK now gets a subject of its own), and their person link is empty (the NIK is sealed; it
is filled in when a key rotation opens it).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rujukan.core.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.add_column(sa.Column("controller", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("person_index", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("restricted_at", rujukan.core.db.UTCDateTime(timezone=True), nullable=True))
        batch.create_index("ix_subjects_person_index", ["person_index"])
        batch.create_index("ix_subjects_controller", ["controller"])
    op.execute(
        """
        UPDATE subjects SET controller = (
            SELECT r.from_agency FROM referrals r WHERE r.subject_id = subjects.id
            ORDER BY r.created_at, r.id LIMIT 1
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.drop_index("ix_subjects_controller")
        batch.drop_index("ix_subjects_person_index")
        batch.drop_column("restricted_at")
        batch.drop_column("person_index")
        batch.drop_column("controller")
