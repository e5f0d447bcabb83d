"""What every use case of the referral service needs, built once per process and injected."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import Session

from rujukan.core.clock import Clock, utc_now
from rujukan.core.codec import EventCodec
from rujukan.core.credentials import CredentialCache
from rujukan.core.db import Database
from rujukan.core.group_commit import GroupCommit
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
    credentials: CredentialCache = field(default_factory=CredentialCache, repr=False, compare=False)
    db: Database = field(init=False, repr=False, compare=False)
    writer: GroupCommit = field(init=False, repr=False, compare=False)  # creates and actions, group-committed

    def __post_init__(self) -> None:
        db = Database(self.engine)
        object.__setattr__(self, "db", db)
        object.__setattr__(self, "writer", GroupCommit(db, name="referral"))

    def close(self) -> None:
        """Finish the writer's queue and stop its thread (the engine is the caller's to dispose)."""
        self.writer.close()

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
