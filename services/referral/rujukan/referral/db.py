"""Engines for the referral database: SQLite (embedded default) or PostgreSQL (production).

SQLite runs in WAL mode with ``synchronous=FULL`` (an answered request survives a power cut) and every
writing transaction starts with ``BEGIN IMMEDIATE``: one writer at a time, taken up front, so a transaction that
reads and then writes never fails half-way on a lock upgrade. PostgreSQL uses psycopg 3; per-referral
serialisation comes from ``SELECT ... FOR UPDATE`` in the service layer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

READ_ONLY = "rujukan_read_only"  # execution option: a transaction that only reads (no write lock)


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed.render_as_string(hide_password=False), **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    return create_engine(parsed, **kwargs)


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    in_memory = ":memory:" in url or url.rstrip("/").endswith("sqlite:")
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")

    return engine


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
