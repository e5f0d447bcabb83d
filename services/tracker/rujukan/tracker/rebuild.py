"""Rebuilding the tracker's tables from the log elsewhere, and comparing two tracker databases: all the
audit replay needs of the tracker, in one module (the audit imports nothing else of it).

``Rebuild`` folds verified events through the tracker's own pure ``project`` function in memory; its
``write`` puts the handoffs (with their SLA due times, as the tracker writes them: those the events carry)
and their history into a scratch database migrated with the tracker's own migrations; it needs an SLA
policy only for events written before the due times travelled in them (ReferralCreated v1). The
comparison reads the same two tables from both databases and lists every row missing on one side and
every column that differs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Table, select
from sqlalchemy.exc import SQLAlchemyError

from rujukan.core.chain import ChainEvent
from rujukan.core.db import Database, make_engine
from rujukan.core.fast_sql import connection_of, insert_rows
from rujukan.core.sla import SlaPolicy
from rujukan.tracker.errors import ProjectionError, RebuildError, SlaPolicyNeeded
from rujukan.tracker.migrate import upgrade
from rujukan.tracker.models import HandoffRow, HistoryRow
from rujukan.tracker.projection import Handoff, history_dict, project
from rujukan.tracker.store import handoff_values

__all__ = [
    "Difference",
    "Rebuild",
    "RebuildError",
    "SlaPolicy",
    "compare",
    "open_live_database",
    "open_rebuild_database",
    "write_rebuilt",
]

INSERT_CHUNK = 5_000
HANDOFFS: Table = HandoffRow.__table__  # type: ignore[attr-defined]
HISTORY: Table = HistoryRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Difference:
    table: str  # handoffs | handoff_history
    key: str  # referral id, or referral id/seq
    kind: str  # missing_in_live | missing_in_rebuild | differs
    columns: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "key": self.key, "kind": self.kind, "columns": list(self.columns)}


@dataclass
class Rebuild:
    """The projection folded in memory; ``rejected`` counts events the projection refused."""

    handoffs: dict[str, Handoff] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0

    def apply(self, event: Mapping[str, Any] | ChainEvent) -> str | None:
        """Fold one event; the reason when the projection refuses it (the tracker dead-letters those)."""
        chained = event if isinstance(event, ChainEvent) else ChainEvent.of(event)
        try:
            handoff, entry = project(self.handoffs.get(chained.referral_id), chained)
        except ProjectionError as exc:
            self.rejected += 1
            return str(exc)
        self.handoffs[chained.referral_id] = handoff
        self.history.append(history_dict(entry))
        return None

    def write(self, engine: Engine, policy: SlaPolicy | None = None) -> None:
        """Write into the database prepared by ``open_rebuild_database``; ``policy`` serves only the
        referrals whose ReferralCreated event carries no due times (v1)."""
        write_rebuilt(engine, self.handoffs.values(), self.history, policy)


def write_rebuilt(
    engine: Engine, handoffs: Iterable[Handoff], history: Iterable[dict[str, Any]], policy: SlaPolicy | None = None
) -> None:
    """Write rebuilt handoffs and history into the database prepared by ``open_rebuild_database``."""
    try:
        with Database(engine).transaction() as session:
            connection = connection_of(session)
            for table, rows in ((HANDOFFS, (handoff_values(h, policy) for h in handoffs)), (HISTORY, iter(history))):
                for chunk in _chunks(rows, INSERT_CHUNK):  # on the driver, bound as SQLAlchemy binds (fast_sql)
                    insert_rows(connection, table, chunk)
    except SlaPolicyNeeded as exc:
        raise RebuildError(f"{exc}: an SLA policy is needed to rebuild its due times") from exc


def open_rebuild_database(url: str) -> Engine:
    """The (empty) database at ``url``, migrated to the tracker's schema; checked before the replay starts."""
    try:
        engine = make_engine(url)
        upgrade(engine)
        with engine.connect() as connection:
            holds_rows = connection.execute(select(HANDOFFS.c.referral_id).limit(1)).first() is not None
    except SQLAlchemyError as exc:
        raise RebuildError(f"cannot use the --rebuild database ({type(exc).__name__})") from exc
    if holds_rows:
        engine.dispose()
        raise RebuildError("the --rebuild database already holds handoffs: give an empty one")
    return engine


def open_live_database(url: str) -> Engine:
    """The live tracker database at ``url``, checked to hold the tracker's tables (read only)."""
    try:
        engine = make_engine(url)
        with engine.connect() as connection:
            connection.execute(select(HANDOFFS.c.referral_id).limit(1)).first()
            connection.execute(select(HISTORY.c.referral_id).limit(1)).first()
    except SQLAlchemyError as exc:
        raise RebuildError(f"cannot read a tracker database at --compare ({type(exc).__name__})") from exc
    return engine


def _chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def compare(rebuilt: Engine, live: Engine) -> list[Difference]:
    """Every difference between the handoffs and histories of two tracker databases."""
    try:
        return _compare(rebuilt, live)
    except SQLAlchemyError as exc:
        raise RebuildError(f"comparing with the live tracker failed ({type(exc).__name__})") from exc


def _compare(rebuilt: Engine, live: Engine) -> list[Difference]:
    differences: list[Difference] = []
    for table, key_columns in ((HANDOFFS, ("referral_id",)), (HISTORY, ("referral_id", "seq"))):
        columns = [column.name for column in table.columns]
        mine, theirs = _rows(rebuilt, table, key_columns), _rows(live, table, key_columns)
        for key in sorted(mine.keys() - theirs.keys()):
            differences.append(Difference(table.name, key, "missing_in_live"))
        for key in sorted(theirs.keys() - mine.keys()):
            differences.append(Difference(table.name, key, "missing_in_rebuild"))
        for key in sorted(mine.keys() & theirs.keys()):
            changed = tuple(c for c in columns if _normal(mine[key][c]) != _normal(theirs[key][c]))
            if changed:
                differences.append(Difference(table.name, key, "differs", changed))
    return differences


def _rows(engine: Engine, table: Table, key_columns: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        result = connection.execute(select(table))
        return {"/".join(str(row[k]) for k in key_columns): dict(row) for row in result.mappings()}


def _normal(value: Any) -> Any:
    """Datetimes compared as instants (SQLite and PostgreSQL give back the same instant differently)."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return value
