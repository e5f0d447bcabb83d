"""Alembic environment: runs on the connection handed over by ``rujukan.core.db.upgrade``."""

from __future__ import annotations

from alembic import context

from rujukan.notifier.models import NotifierTable

connection = context.config.attributes["connection"]
context.configure(
    connection=connection, target_metadata=NotifierTable.metadata, render_as_batch=True, compare_type=True
)
with context.begin_transaction():
    context.run_migrations()
