"""From events to deliveries: the notifier consumers' applier (one transaction per polled batch).

For each new event: advance the referral's parties and status (checked against the shared state
machine), pick the subscriptions that should hear of it (routing, event-type filter, enabled), and store
one delivery per subscription with its thin payload. The event id is recorded as processed in the same
transaction, so a redelivered event, or a whole log republished after a broker reset, creates no second
delivery. Chains are followed with :func:`rujukan.core.chain.follow`, as the tracker and the audit do. An
event that cannot be routed (a referral the log never created, a chain out of order, an illegal
transition) is dead-lettered with the reason.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlmodel import Session, col, select

from rujukan.core import tlog
from rujukan.core.chain import ChainEvent, ChainState, follow
from rujukan.core.clock import Clock
from rujukan.core.kafka.chain_consumer import BatchResult, DeadLetter
from rujukan.core.kafka.headers import log_index_of
from rujukan.core.lifecycle import CREATED_EVENT, LifecycleError, Status
from rujukan.notifier.errors import Unroutable
from rujukan.notifier.models import DeliveryRow, ProcessedEvent, ReferralParties, SubscriptionRow
from rujukan.notifier.retry import DeliveryStatus
from rujukan.notifier.routing import BREACH_TYPE, Parties, payload, recipients, webhook_type

PARTIES = ReferralParties.__table__  # type: ignore[attr-defined]
DELIVERIES = DeliveryRow.__table__  # type: ignore[attr-defined]
PROCESSED = ProcessedEvent.__table__  # type: ignore[attr-defined]


@dataclass(slots=True)
class _Known:
    """A referral's row of ``referral_parties`` while a batch is applied (a SQLModel instance cost 40% of
    the notifier's time to build); changes are written once, in bulk, by ``_store``."""

    referral_id: str
    case_id: str
    from_agency: str
    to_agency: str
    status: str
    last_seq: int


class _Subscriptions:
    """The enabled subscriptions, looked up by agency; coordinators hear breaches."""

    def __init__(self, rows: Iterable[SubscriptionRow]) -> None:
        self.by_agency: dict[str, SubscriptionRow] = {}
        self.coordinators: list[SubscriptionRow] = []
        for row in rows:
            if row.owner_kind == "agency":
                self.by_agency[row.owner] = row
            else:
                self.coordinators.append(row)

    def for_event(self, webhook_type: str, agencies: list[str]) -> list[SubscriptionRow]:
        chosen = [self.by_agency[a] for a in agencies if a in self.by_agency]
        if webhook_type == BREACH_TYPE:
            chosen += self.coordinators
        return [row for row in chosen if _wants(row, webhook_type)]


def _wants(row: SubscriptionRow, webhook_type: str) -> bool:
    return not row.event_types or webhook_type in row.event_types.split(",")


def route_events(
    session: Session,
    events: list[tuple[Any, dict[str, Any]]],
    dead_letter: DeadLetter,
    result: BatchResult,
    *,
    clock: Clock,
) -> None:
    if not events:
        return
    now = clock()
    ids = [str(event["event_id"]) for _, event in events]
    seen = set(session.exec(select(ProcessedEvent.event_id).where(col(ProcessedEvent.event_id).in_(ids))).all())
    referral_ids = {str(event["referral_id"]) for _, event in events}
    known = {
        row.referral_id: _Known(**row._mapping)
        for row in session.execute(select(PARTIES).where(PARTIES.c.referral_id.in_(referral_ids)))
    }
    created: set[str] = set()
    changed: set[str] = set()
    subscriptions = _Subscriptions(session.exec(select(SubscriptionRow).where(col(SubscriptionRow.enabled))))
    processed: list[dict[str, str]] = []
    deliveries: list[dict[str, Any]] = []
    for record, event in events:
        event_id = str(event["event_id"])
        if event_id in seen:
            result.duplicates += 1
            continue
        seen.add(event_id)
        try:
            parties = _advance(event, known, created, changed)
        except (LifecycleError, Unroutable) as exc:
            dead_letter(record, exc)
            processed.append({"event_id": event_id, "outcome": "deadletter"})
            result.dead_lettered += 1
            continue
        kind = webhook_type(event)
        index = log_index_of(record) if kind != BREACH_TYPE else None  # only referral events are leaves
        leaf = tlog.leaf_hash(record.value) if index is not None else None
        body = json.dumps(payload(event, parties, log_index=index, leaf_hash=leaf), separators=(",", ":"))
        for row in subscriptions.for_event(kind, recipients(event, parties)):
            deliveries.append(_delivery(row, event, kind, body, now))
            result.changed.append(str(event["referral_id"]))
        processed.append({"event_id": event_id, "outcome": "routed"})
        result.applied += 1
    _store(session, known, created, changed)
    connection = session.connection()  # Core inserts: the ORM's bulk path costs more than the rows
    if deliveries:
        connection.execute(insert(DELIVERIES), deliveries)
    if processed:
        connection.execute(insert(PROCESSED), processed)


def _delivery(
    row: SubscriptionRow, event: dict[str, Any], webhook_type: str, body: str, now: dt.datetime
) -> dict[str, Any]:
    """The new delivery of ``event`` to one subscription, as an insert row."""
    return {
        "subscription_id": row.id,
        "owner": row.owner,
        "event_id": str(event["event_id"]),
        "referral_id": str(event["referral_id"]),
        "webhook_type": webhook_type,
        "payload": body,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
    }


def _advance(
    event: dict[str, Any],
    known: dict[str, _Known],
    created: set[str],
    changed: set[str],
) -> Parties:
    """The referral's parties after ``event`` (updating ``known``), or raise why it cannot be routed."""
    if event["event_type"] == "SlaBreached":
        current = known.get(str(event["referral_id"]))
        status = current.status if current is not None else None
        return Parties(from_agency=str(event["from_agency"]), to_agency=str(event["to_agency"]), status=status)
    chain_event = ChainEvent.of(event)
    referral_id = chain_event.referral_id
    current = known.get(referral_id)
    if current is None and chain_event.event_type != CREATED_EVENT:
        raise Unroutable(f"{chain_event.event_type} for referral {referral_id}, which the log never created")
    state = follow(None if current is None else _chain(current), chain_event)
    status = state.status.value if state.status is not None else ""
    if current is None:
        current = known[referral_id] = _Known(
            referral_id=referral_id,
            case_id=state.case_id,
            from_agency=state.from_agency,
            to_agency=state.to_agency,
            status=status,
            last_seq=state.last_seq,
        )
        created.add(referral_id)
    else:
        current.status, current.last_seq = status, state.last_seq
        if referral_id not in created:
            changed.add(referral_id)
    return _parties(current)


def _chain(row: _Known) -> ChainState:
    return ChainState(row.referral_id, row.case_id, row.from_agency, row.to_agency, Status(row.status), row.last_seq)


def _parties(row: _Known) -> Parties:
    return Parties(from_agency=row.from_agency, to_agency=row.to_agency, status=row.status)


def _store(session: Session, known: dict[str, _Known], created: set[str], changed: set[str]) -> None:
    if created:
        session.connection().execute(
            insert(PARTIES),
            [
                {
                    "referral_id": r.referral_id,
                    "case_id": r.case_id,
                    "from_agency": r.from_agency,
                    "to_agency": r.to_agency,
                    "status": r.status,
                    "last_seq": r.last_seq,
                }
                for r in (known[i] for i in created)
            ],
        )
    if changed:
        statement = (
            update(ReferralParties)
            .where(col(ReferralParties.referral_id) == bindparam("rid"))
            .values(status=bindparam("new_status"), last_seq=bindparam("new_seq"))
        )
        rows = [{"rid": i, "new_status": known[i].status, "new_seq": known[i].last_seq} for i in changed]
        session.connection().execute(statement, rows)
