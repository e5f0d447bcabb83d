"""Group commit: the units of work that callers hand in at the same moment run in one database
transaction, each in a savepoint of its own, on one writer thread; each caller gets its unit's answer
(or its error) only once that transaction has committed.

Why: on SQLite one transaction writes at a time, and every commit is an fsync; a use case in a
transaction of its own makes concurrent requests queue for the write lock, each waiting out the others'
commits and, under the interpreter lock, the other threads' turns. One writer that takes everything
queued while it was busy pays one commit for the lot. On PostgreSQL it saves commits too.

Invariants:
- A unit either happens entirely or not at all: it runs in a savepoint, and an error it raises rolls
  back only its own writes; the others of the batch go on. An ``IntegrityError`` (a concurrent twin,
  such as the same idempotency key in another process) gives the unit one more try in the same batch.
- Nobody is answered before the commit: when the commit fails, every unit of the batch gets that error
  (nothing of theirs was written); a caller may retry, as after any failed transaction. So does a unit
  whose savepoint cannot be rolled back (the connection died under it): every unit gets the unit's error.
- A unit is a function of a session and must not hand work back to the writer (it would wait for
  itself). It runs in a copy of the submitter's context variables (who is acting, for its events), as a
  function called in the submitter's thread would. Batches take what is queued, at most ``max_batch``,
  and wait for no more: a lone request is not delayed.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from rujukan.core import metrics
from rujukan.core.db import Database
from rujukan.core.fast_sql import connection_of, execute

log = logging.getLogger("rujukan.group_commit")
T = TypeVar("T")
Unit = Callable[[Session], T]
MAX_BATCH = 64


@dataclass(frozen=True, slots=True)
class _Queued(Generic[T]):
    unit: Unit[T]
    future: Future[T]


class GroupCommit:
    """The writer of one database in one process (see the module docstring). Its thread starts with the
    first unit and ends with ``close`` (after the units queued before it)."""

    def __init__(self, db: Database, *, name: str, max_batch: int = MAX_BATCH) -> None:
        self._db = db
        self._name = name
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Queued[Any] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, unit: Unit[T]) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"writer-{self._name}", daemon=True)
                self._thread.start()
            self._queue.put(_Queued(_in_context(unit, contextvars.copy_context()), future))
        return future

    def run(self, unit: Unit[T]) -> T:
        """Run ``unit`` in the next batch and return its answer once committed (from any thread but the
        writer's)."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("a unit of work cannot wait for another one")
        return self.submit(unit).result()

    async def run_async(self, unit: Unit[T]) -> T:
        """As ``run``, awaited: the event loop serves other requests meanwhile."""
        return await asyncio.wrap_future(self.submit(unit))

    def close(self, timeout_s: float = 10.0) -> None:
        """Finish what is queued, then stop the thread (a later unit starts a new one)."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join(timeout_s)

    # -- the writer thread ---------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Queued[Any]]) -> None:
        live = [item for item in batch if item.future.set_running_or_notify_cancel()]
        answers: list[tuple[_Queued[Any], Any, BaseException | None]] = []
        try:
            with self._db.transaction() as session:
                for item in live:
                    answers.append((item, *_attempt(session, item.unit)))
        except BaseException as exc:  # the commit failed (or the transaction could not begin): none was written
            log.warning("%s: a batch of %d could not commit (%s)", self._name, len(live), type(exc).__name__)
            for item in live:
                if not item.future.done():
                    item.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        metrics.GROUP_COMMIT_BATCH.labels(writer=self._name).observe(len(live))
        for item, answer, error in answers:
            if error is None:
                item.future.set_result(answer)
            else:
                item.future.set_exception(error)


def _in_context(unit: Unit[T], context: contextvars.Context) -> Unit[T]:
    """``unit`` to run in ``context`` (a fresh copy per submit, so no two threads ever enter one)."""

    def run(session: Session) -> T:
        return context.run(unit, session)

    return run


def _attempt(session: Session, unit: Unit[T]) -> tuple[T | None, BaseException | None]:
    """Run ``unit`` in a savepoint: (its answer, None), or (None, the error that rolled it back). The
    savepoint is the driver's (SQLAlchemy's own costs more than the unit's inserts); the unit's ORM
    changes are flushed inside it, and on an error the session forgets every object, so nothing of the
    failed unit is flushed later (the other units' work is flushed already)."""
    connection = connection_of(session)
    for attempt in range(2):
        execute(connection, "SAVEPOINT rujukan_unit", ())
        try:
            answer = unit(session)
            session.flush()
        except Exception as exc:  # the unit's own error: its savepoint is rolled back, its caller gets it
            try:
                execute(connection, "ROLLBACK TO SAVEPOINT rujukan_unit", ())
                execute(connection, "RELEASE SAVEPOINT rujukan_unit", ())
            except Exception:
                # the transaction itself is gone (the connection died under the unit): the whole batch
                # fails, with the unit's error (a lost database is a 503 to each caller, not a rollback
                # that cannot run)
                raise exc from None
            session.expunge_all()
            if isinstance(exc, IntegrityError) and attempt == 0:
                continue  # a concurrent twin committed first: the second try sees it
            return None, exc
        execute(connection, "RELEASE SAVEPOINT rujukan_unit", ())
        return answer, None
    raise AssertionError("unreachable")
