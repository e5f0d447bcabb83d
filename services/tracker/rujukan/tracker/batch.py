"""Applying one polled batch of events to the projection with a handful of statements.

Reads happen once per batch (which event ids were processed, the handoffs and the known breaches of the
referrals in the batch); events are projected in memory in log order (so several events of one referral
in one batch build on each other); writes are one INSERT of new handoffs, one executemany UPDATE of the
changed ones, and bulk inserts of history, processed ids, breaches and the links between parallel
referrals (Core, no ORM rows). The
caller runs it inside the transaction that also stores the partition positions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, delete, or_, update
from sqlalchemy import select as table_select  # sqlmodel's select takes models, not tables
from sqlmodel import Session, col, select

from rujukan.core.fast_sql import connection_of, insert_rows
from rujukan.core.kafka.chain_consumer import BatchResult, DeadLetter
from rujukan.core.sla import SlaPolicy
from rujukan.tracker.breaches import breach_event_id
from rujukan.tracker.changes import record_changes
from rujukan.tracker.errors import ProjectionError
from rujukan.tracker.models import HandoffRow, HistoryRow, ParallelLink, ProcessedEvent, SlaBreachRow
from rujukan.tracker.projection import HANDOFF_FIELDS, Handoff, history_dict, project
from rujukan.tracker.sla import breaches
from rujukan.tracker.store import handoff_values

HANDOFFS: Table = HandoffRow.__table__  # type: ignore[attr-defined]


@dataclass
class _Batch:
    """What the batch has read and what it will write."""

    seen: set[str]
    stored: set[str]  # referral ids that already have a handoff row
    states: dict[str, Handoff]
    known_breaches: set[tuple[str, str]]
    history: list[dict[str, Any]] = field(default_factory=list)
    processed: list[dict[str, Any]] = field(default_factory=list)
    new_breaches: list[dict[str, Any]] = field(default_factory=list)
    parallel: list[dict[str, Any]] = field(default_factory=list)
    erased: set[str] = field(default_factory=set)  # referrals whose subject was erased: no links any more


def apply_events(
    session: Session,
    events: list[tuple[Any, dict[str, Any]]],
    *,
    policy: SlaPolicy,
    dead_letter: DeadLetter,
    result: BatchResult,
) -> None:
    """Apply decoded ``(record, event)`` pairs in order; contradicting events go to ``dead_letter``."""
    if not events:
        return
    batch = _read(session, events)
    changed: dict[str, None] = {}
    for record, event in events:
        event_id = str(event["event_id"])
        if event_id in batch.seen:
            result.duplicates += 1
            continue
        batch.seen.add(event_id)
        referral_id = str(event["referral_id"])
        try:
            handoff, entry = project(batch.states.get(referral_id), event)
        except ProjectionError as exc:
            dead_letter(record, exc)
            batch.processed.append({"event_id": event_id, "outcome": "deadletter"})
            result.dead_lettered += 1
            continue
        batch.states[referral_id] = handoff
        batch.history.append(history_dict(entry))
        batch.parallel.extend(
            {"referral_id": referral_id, "other_referral_id": str(other)}
            for other in dict.fromkeys(event.get("parallel_referral_ids") or ())  # ReferralCreated v3
        )
        if event["event_type"] == "SubjectErased":
            batch.erased.add(referral_id)
        batch.processed.append({"event_id": event_id, "outcome": "applied"})
        _proven_breaches(batch, handoff, policy, event)
        changed[referral_id] = None
        result.applied += 1
    _write(session, batch, changed, policy)
    result.changed.extend(changed)
    result.tallies["sla_breaches"] += len(batch.new_breaches)


def _read(session: Session, events: list[tuple[Any, dict[str, Any]]]) -> _Batch:
    event_ids = [str(event["event_id"]) for _, event in events]
    referral_ids = list({str(event["referral_id"]) for _, event in events})
    seen = set(session.exec(select(ProcessedEvent.event_id).where(col(ProcessedEvent.event_id).in_(event_ids))))
    states = {
        row["referral_id"]: Handoff(**{name: row[name] for name in HANDOFF_FIELDS})
        for row in session.execute(table_select(HANDOFFS).where(HANDOFFS.c.referral_id.in_(referral_ids))).mappings()
    }
    known = {
        (r, c)
        for r, c in session.exec(
            select(SlaBreachRow.referral_id, SlaBreachRow.clock).where(col(SlaBreachRow.referral_id).in_(referral_ids))
        )
    }
    return _Batch(seen=seen, stored=set(states), states=states, known_breaches=known)


def _proven_breaches(batch: _Batch, handoff: Handoff, policy: SlaPolicy, event: dict[str, Any]) -> None:
    """Breaches the log proves, judged at the event's own time (running clocks are the sweep's)."""
    at = event["occurred_at"]
    for breach in breaches(handoff, policy, at):
        key = (handoff.referral_id, breach.clock.value)
        if key not in batch.known_breaches:
            batch.known_breaches.add(key)
            batch.new_breaches.append(
                {
                    "referral_id": key[0],
                    "clock": key[1],
                    "due_at": breach.due_at,
                    "event_id": breach_event_id(*key),
                    "detected_at": at,
                    "published_at": None,
                }
            )


def _write(session: Session, batch: _Batch, changed: dict[str, None], policy: SlaPolicy) -> None:
    """Bulk statements: new handoffs inserted, changed ones updated, then the rows that refer to them, and
    the change feed."""
    inserts, updates = [], []
    for referral_id in changed:
        values = handoff_values(batch.states[referral_id], policy)
        if referral_id in batch.stored:
            updates.append({**values, "key": referral_id})
        else:
            inserts.append(values)
    if inserts:
        insert_rows(connection_of(session), HANDOFFS, inserts)  # on the driver (rujukan.core.fast_sql)
    if updates:
        session.execute(update(HANDOFFS).where(HANDOFFS.c.referral_id == bindparam("key")), updates)
    for table, rows in (
        (HistoryRow, batch.history),
        (ProcessedEvent, batch.processed),
        (SlaBreachRow, batch.new_breaches),
        (ParallelLink, batch.parallel),
    ):
        if rows:
            insert_rows(connection_of(session), table.__table__, rows)  # type: ignore[union-attr]
    if batch.erased:  # an erased person's referrals are no longer linked to each other
        erased = list(batch.erased)
        session.execute(
            delete(ParallelLink).where(
                or_(col(ParallelLink.referral_id).in_(erased), col(ParallelLink.other_referral_id).in_(erased))
            )
        )
    record_changes(session, list(changed), dt.datetime.now(dt.UTC))
