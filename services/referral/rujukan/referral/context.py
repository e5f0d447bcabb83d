"""What every use case of the referral service needs, built once per process and injected."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import Session

from rujukan.core.clock import Clock, utc_now
from rujukan.core.codec import EventCodec
from rujukan.core.db import Database
from rujukan.core.sealing import MasterKey
from rujukan.core.signatures import SigningKeys
from rujukan.core.sla import SlaPolicy


@dataclass(frozen=True)
class ReferralContext:
    engine: Engine
    master_key: MasterKey
    signing: SigningKeys  # signs each event as it is stored, and the log's checkpoints
    codec: EventCodec = field(default_factory=EventCodec)
    max_page_size: int = 200
    sla: SlaPolicy = field(default_factory=SlaPolicy)  # the due times written into each new referral's event
    clock: Clock = utc_now
    db: Database = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "db", Database(self.engine))

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits when the block ends normally, rolls back on any exception."""
        with self.db.transaction() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A transaction that only reads: on SQLite it does not take the write lock."""
        with self.db.read() as session:
            yield session
