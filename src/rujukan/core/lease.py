"""One holder at a time among the processes that share a database: what lets a role run as several
instances, one active and the others standing by (the relay, the tracker's SLA sweep and breach
publisher, the notifier's dispatcher).

On PostgreSQL a lease is a session advisory lock held on a connection of its own: when the holder dies,
even by kill -9, the server sees the connection close and the lock is free at once; a standby takes it
on its next try (``TRY_EVERY_S``). The holder confirms its connection at least every ``CHECK_EVERY_S``
before a round, so a holder cut off from the database stops within that instead of working on beside a
new one. On SQLite (one machine)
it is an ``flock`` on a file beside the database, released by the kernel when the holder exits.

:class:`Leased` wraps a loop worker: it works only while it holds the lease; otherwise it stands by,
reports no backlog (the watchdog must not rebuild a standby) and logs each change of hands.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from rujukan.core import metrics
from rujukan.core.db import is_postgres

if TYPE_CHECKING:
    from rujukan.core.loops import Worker

log = logging.getLogger("rujukan.lease")
TRY_EVERY_S = 1.0  # how often a standby tries to take the lease (a handover takes about this long)
CHECK_EVERY_S = 0.5  # how often a holder confirms its hold (a round may be 50 ms: not a query each)


class Lease:
    """``held()`` takes the lease if it is free and says whether this process holds it now."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.name = name
        self._engine = engine
        self._key = int.from_bytes(hashlib.sha256(f"rujukan-lease:{name}".encode()).digest()[:8], "big", signed=True)
        self._connection: Connection | None = None
        self._descriptor: int | None = None
        self._last_try = -TRY_EVERY_S
        self._last_check = 0.0

    def held(self) -> bool:
        if self._connection is not None or self._descriptor is not None:
            if self._still_held():
                return True
            self.release()
        now = time.monotonic()
        if now - self._last_try < TRY_EVERY_S:
            return False
        self._last_try = now
        return self._take()

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                connection.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (self._key,))
                connection.commit()
            with contextlib.suppress(SQLAlchemyError):
                connection.close()
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is not None and descriptor >= 0:
            os.close(descriptor)  # releases the flock

    def _take(self) -> bool:
        if not is_postgres(self._engine):
            return self._take_file()
        connection = None
        try:
            connection = self._engine.connect()
            taken = bool(connection.exec_driver_sql("SELECT pg_try_advisory_lock(%s)", (self._key,)).scalar())
            connection.commit()
        except SQLAlchemyError:
            taken = False
        if taken:
            self._connection = connection
        elif connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                connection.close()
        return taken

    def _take_file(self) -> bool:
        database = self._engine.url.database
        if not database or database == ":memory:":
            self._descriptor = -1  # one process owns an in-memory database: nobody to share with
            return True
        descriptor = os.open(f"{Path(database).resolve()}.{self.name}.lease", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            return False
        self._descriptor = descriptor
        return True

    def _still_held(self) -> bool:
        if self._connection is None:
            return True  # a file lock lasts as long as its descriptor
        now = time.monotonic()
        if now - self._last_check < CHECK_EVERY_S:
            return True
        self._last_check = now
        try:
            self._connection.exec_driver_sql("SELECT 1")
            self._connection.commit()
            return True
        except SQLAlchemyError:
            log.warning("%s: the connection holding the lease was lost; standing by", self.name)
            return False


class Leased:
    """A loop worker that works while its lease is held, and stands by (idle, no backlog) otherwise."""

    def __init__(self, worker: Worker, lease: Lease) -> None:
        self._worker, self._lease = worker, lease
        self._active = False
        self._standing_by = False

    def step(self) -> int:
        if not self._lease.held():
            if self._active:
                log.warning("%s: lost the lease; another instance takes over", self._lease.name)
                self._active = False
                metrics.LEASE_HELD.labels(lease=self._lease.name).set(0)
                self._worker.close()
            if not self._standing_by:
                log.info("%s: standing by; another instance holds the lease", self._lease.name)
                self._standing_by = True
            return 0
        self._standing_by = False
        if not self._active:
            log.info("%s: holding the lease; this instance is the active one", self._lease.name)
            self._active = True
            metrics.LEASE_HELD.labels(lease=self._lease.name).set(1)
        return self._worker.step()

    def idle(self) -> None:
        if self._active:
            self._worker.idle()
        else:
            time.sleep(TRY_EVERY_S / 4)

    def backlog(self) -> int | None:
        return self._worker.backlog() if self._active else None

    def close(self) -> None:
        """Close the worker and hand the lease over (a standby takes it within ``TRY_EVERY_S``)."""
        self._worker.close()
        if self._active:
            self._active = False
            metrics.LEASE_HELD.labels(lease=self._lease.name).set(0)
        self._lease.release()

    @property
    def active(self) -> bool:
        return self._active


def once(engine: Engine, name: str, worker: Worker) -> Leased:
    """``worker`` run by one instance at a time among those sharing ``engine``'s database (the lease is
    named after the loop)."""
    return Leased(worker, Lease(engine, name))
