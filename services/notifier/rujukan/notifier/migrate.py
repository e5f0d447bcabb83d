"""Schema migrations of the notifier database (Alembic), run programmatically at start-up."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from rujukan.core import db

MIGRATIONS = Path(__file__).with_name("migrations")


def upgrade(engine: Engine) -> None:
    """Bring the notifier database to the latest revision (idempotent)."""
    db.upgrade(engine, MIGRATIONS)
