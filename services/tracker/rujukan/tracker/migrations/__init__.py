"""Alembic migrations of the tracker database."""
