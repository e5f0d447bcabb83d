"""Databases of the services: SQLite (embedded default) or PostgreSQL (production), and migrations.

SQLite runs in WAL mode with ``synchronous=FULL`` (an answered request survives a power cut) and every
writing transaction starts with ``BEGIN IMMEDIATE``: one writer at a time, taken up front, so a transaction that
reads and then writes never fails half-way on a lock upgrade. PostgreSQL uses psycopg 3; row-level
serialisation comes from ``SELECT ... FOR UPDATE`` in the service layers.

Writers queue before ``BEGIN IMMEDIATE`` on SQLite, and never in SQLite's busy handler, which sleeps with
back-off (up to 100 ms a time) and ruins tail latency: the threads of one process on an in-process lock,
the processes on an ``flock`` of a file beside the database (``WriterGate``), which they try every
millisecond or less. Under ``rujukan up`` the API process group-commits creates back to back while the
relay worker writes the same file: in SQLite's busy handler the relay waited 80% of its time, and a
handoff took seconds to reach the log.

A process that starts while its database refuses connections waits for it (up to
``DATABASE_WAIT_S``, saying so in the log) instead of dying with a traceback.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Column, Connection, DateTime, Engine, TypeDecorator, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

log = logging.getLogger("rujukan.db")
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
        cursor.execute("PRAGMA secure_delete=ON")  # deleted and overwritten content is zeroed in the file
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")

    return engine


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


GATE_PAUSES_S = (0.0001, 0.0002, 0.0005, 0.001)  # between tries of the writer gate: the last one repeats
GATE_COURTESY_S = 0.002  # a writer that finds others waiting lets them try first (longer than their pause)
GATE_WAIT_S = 30.0  # as SQLite's busy timeout; then the writer goes on to SQLite's own wait (and its error)


class WriterGate:
    """The writers of one SQLite file, across threads and processes, one at a time, and in turn: an
    in-process lock, then an exclusive ``flock`` of ``<database>-writer``. A writer that finds it taken
    holds a shared ``flock`` of ``<database>-waiting`` while it tries again; a writer that comes to the
    gate while others wait gives them ``GATE_COURTESY_S`` first, so one that commits back to back (the
    API's group commit) does not take the gate again and again ahead of a writer that has waited.

    Files of our own, never the database: a descriptor of it closed by us would drop SQLite's own POSIX
    locks. The gate orders writers and nothing else; SQLite's locking still guards the data, so a gate
    that cannot be had (a file that will not open, a writer holding it past ``GATE_WAIT_S``) lets the
    writer go on to SQLite's own wait. A lock of a process that dies goes with it."""

    def __init__(self, database: Path) -> None:
        self._paths = (database.with_name(database.name + "-writer"), database.with_name(database.name + "-waiting"))
        self._thread_lock = threading.Lock()
        self._descriptors: tuple[int, int] | None = None
        self._pid = 0
        self._held = False

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            self._held = self._take()
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *_: object) -> None:
        try:
            if self._held and self._descriptors is not None:
                self._held = False
                fcntl.flock(self._descriptors[0], fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def _take(self) -> bool:
        descriptors = self._opened()
        if descriptors is None:
            return False
        gate, waiting = descriptors
        others_wait = not _try_flock(waiting, fcntl.LOCK_EX)
        if not others_wait:
            fcntl.flock(waiting, fcntl.LOCK_UN)
            if _try_flock(gate, fcntl.LOCK_EX):
                return True
        fcntl.flock(waiting, fcntl.LOCK_SH)  # held exclusively only for the moment of a look, as above
        try:
            if others_wait:
                time.sleep(GATE_COURTESY_S)
            deadline = time.monotonic() + GATE_WAIT_S
            for tries in itertools.count():
                if _try_flock(gate, fcntl.LOCK_EX):
                    return True
                if time.monotonic() >= deadline:
                    log.warning(
                        "%s: held by another writer for %.0f s; waiting on SQLite", self._paths[0].name, GATE_WAIT_S
                    )
                    return False
                time.sleep(GATE_PAUSES_S[min(tries, len(GATE_PAUSES_S) - 1)])
        finally:
            fcntl.flock(waiting, fcntl.LOCK_UN)
        raise AssertionError("unreachable")

    def _opened(self) -> tuple[int, int] | None:
        """This process's descriptors of the two files (new ones after a fork: shared ones are no gate)."""
        if self._descriptors is not None and self._pid == os.getpid():
            return self._descriptors
        self._descriptors = None
        try:
            gate, waiting = (os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600) for path in self._paths)
        except OSError as exc:
            log.warning(
                "%s: cannot open the writer gate (%s); writers wait on SQLite", self._paths[0].name, exc.strerror
            )
            return None
        self._descriptors, self._pid = (gate, waiting), os.getpid()
        return self._descriptors


def _try_flock(descriptor: int, operation: int) -> bool:
    try:
        fcntl.flock(descriptor, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _write_lock(engine: Engine) -> AbstractContextManager[Any]:
    if engine.dialect.name != "sqlite":
        return nullcontext()  # PostgreSQL orders writers by its row locks
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return threading.Lock()  # one process's (or a URI the gate would not find the file of)
    return WriterGate(Path(database).resolve())


class Database:
    """An engine and the two kinds of transaction every use case needs."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._write_lock = _write_lock(engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits when the block ends normally, rolls back on any exception."""
        with self._write_lock, Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A transaction that only reads: on SQLite it does not take the write lock."""
        engine = self.engine.execution_options(**{READ_ONLY: True})
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session


# SQLAlchemy's text of a datetime on SQLite; the bind below writes the same, and only while this is the format
SQLITE_DATETIME_FORMAT = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"


def _as_utc(value: dt.datetime) -> dt.datetime:
    """An aware datetime in UTC; a naive one is refused (its zone is unknown)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(dt.UTC)


def _sqlite_utc_text(value: dt.datetime | None) -> str | None:
    """What ``UTCDateTime`` then SQLAlchemy's SQLite ``DATETIME`` make of a value, in one C call instead of
    a Python mapping per value (a rebuild binds millions)."""
    return None if value is None else _as_utc(value).isoformat(" ", "microseconds")[:26]  # without "+00:00"


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Any:
        stored = getattr(self.impl_instance.dialect_impl(dialect), "_storage_format", None)
        if dialect.name == "sqlite" and stored == SQLITE_DATETIME_FORMAT:
            return _sqlite_utc_text
        return super().bind_processor(dialect)

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else _as_utc(value)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utc_column(*, nullable: bool = False, index: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(UTCDateTime(), nullable=nullable, index=index)


def alembic_config(script_location: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    return config


DATABASE_WAIT_S = 60.0
WAIT_STEPS_S = (0.5, 1.0, 2.0, 5.0)


def wait_until_reachable(engine: Engine, *, timeout_s: float | None = None) -> None:
    """Return once a connection opens; raise the last OperationalError after ``timeout_s``
    (default ``DATABASE_WAIT_S``). A SQLite file that does not open will not open later: no wait."""
    if not is_postgres(engine):
        timeout_s = 0.0
    deadline = time.monotonic() + (DATABASE_WAIT_S if timeout_s is None else timeout_s)
    for attempt in itertools.count():
        try:
            with engine.connect():
                return
        except OperationalError as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            reason = type(exc.orig).__name__ if exc.orig else "OperationalError"
            log.warning("database not reachable (%s); waiting up to %.0f s more", reason, left)
            time.sleep(min(WAIT_STEPS_S[min(attempt, len(WAIT_STEPS_S) - 1)], left))


FORGET_TRIES = 20


def forget(engine: Engine, *tables: str) -> bool:
    """After a transaction destroyed data (an erasure), make the store forget it in its files too: on
    SQLite (``secure_delete`` zeroes what a page no longer holds) the write-ahead log, which still holds
    the old pages, is checkpointed into the database and truncated; on PostgreSQL ``tables`` are vacuumed, so
    the old row versions are removed from their pages. True when it completed (a reader holding an old
    snapshot can delay it; the next erasure or the next checkpoint completes it). PostgreSQL's own
    write-ahead log and backups keep old pages until they are recycled: see the README on backups."""
    if is_postgres(engine):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in tables:
                connection.exec_driver_sql(f'VACUUM "{table}"')
        return True
    for _ in range(FORGET_TRIES):
        raw = engine.raw_connection()  # no BEGIN: a checkpoint cannot run inside a transaction
        try:
            cursor = raw.cursor()
            busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            cursor.close()
        finally:
            raw.close()
        if busy is None or busy[0] == 0:
            return True
        time.sleep(0.05)
    log.warning("the database could not yet forget erased data (a reader holds an old snapshot); it will")
    return False


def upgrade(engine: Engine, script_location: Path) -> None:
    """Bring a service's database to its latest migration (idempotent), once it is reachable. Any number
    of replicas may call it at the same moment: one migrates while the others wait, then find nothing to
    do (two used to race on ``alembic_version``, and one died with a UniqueViolation)."""
    wait_until_reachable(engine)
    config = alembic_config(script_location)
    with migration_lock(engine, f"rujukan-migrate:{script_location.resolve()}") as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()


@contextmanager
def migration_lock(engine: Engine, name: str) -> Iterator[Connection]:
    """A connection held alone among every process migrating with the same ``name``: a PostgreSQL
    session advisory lock, or an exclusive ``flock`` on the folder of a SQLite database (SQLite's own
    locking would let two processes both find the schema missing and both create it)."""
    if is_postgres(engine):
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT pg_advisory_lock(%s)", (key,))
            connection.commit()
            try:
                yield connection
            finally:
                connection.rollback()
                connection.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (key,))
                connection.commit()
        return
    database = engine.url.database
    directory = Path(database).resolve().parent if database and database != ":memory:" else None
    descriptor = os.open(directory, os.O_RDONLY) if directory is not None and directory.is_dir() else None
    try:
        if descriptor is not None:
            fcntl.flock(descriptor, fcntl.LOCK_EX)  # on the database's folder: no file of our own
        with engine.connect() as connection:
            yield connection
    finally:
        if descriptor is not None:
            os.close(descriptor)  # releases the lock
