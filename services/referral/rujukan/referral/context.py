"""What every use case of the referral service needs, built once per process and injected."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import Session

from rujukan.core.codec import EventCodec
from rujukan.core.sealing import MasterKey
from rujukan.referral.db import READ_ONLY


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class ReferralContext:
    engine: Engine
    master_key: MasterKey
    codec: EventCodec = field(default_factory=EventCodec)
    max_page_size: int = 200
    clock: Callable[[], dt.datetime] = utcnow
    # SQLite allows one writer at a time. Writers of this process queue on this lock (woken at once)
    # instead of in SQLite's busy handler (which sleeps with back-off and ruins tail latency).
    _write_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits when the block ends normally, rolls back on any exception."""
        serialise = self._write_lock if self.engine.dialect.name == "sqlite" else nullcontext()
        with serialise, Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A transaction that only reads: on SQLite it does not take the write lock."""
        engine = self.engine.execution_options(**{READ_ONLY: True})
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session
