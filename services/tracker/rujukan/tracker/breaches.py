"""SLA breaches: recorded at most once per clock in the tracker database, then published once each to
the SLA topic through the shared outbox publisher (which republishes them after a broker log reset)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from rujukan.core.codec import EventCodec
from rujukan.core.db import Database
from rujukan.core.kafka.outbox import OutboxMessage, OutboxPublisher
from rujukan.core.settings import CoreSettings
from rujukan.core.sla import SlaPolicy
from rujukan.core.vocabulary import SlaClock
from rujukan.tracker.models import HandoffRow, PublisherState, SlaBreachRow
from rujukan.tracker.projection import Handoff
from rujukan.tracker.queries import overdue_condition
from rujukan.tracker.sla import breaches
from rujukan.tracker.store import handoff_of

BREACH_NAMESPACE = uuid.UUID("4f9a3c1e-7b2d-5e60-9a8b-2c1d0e3f4a5b")


def breach_event_id(referral_id: str, clock: str) -> str:
    """Deterministic: a breach re-detected after a restart has the same event id."""
    return str(uuid.uuid5(BREACH_NAMESPACE, f"{referral_id}:{clock}"))


def record_breaches(session: Session, handoff: Handoff, policy: SlaPolicy, *, now: dt.datetime) -> int:
    """Insert the handoff's breaches that are not recorded yet; how many were new."""
    new = 0
    for breach in breaches(handoff, policy, now):
        if session.get(SlaBreachRow, (handoff.referral_id, breach.clock.value)) is None:
            session.add(
                SlaBreachRow(
                    referral_id=handoff.referral_id,
                    clock=breach.clock.value,
                    event_id=breach_event_id(handoff.referral_id, breach.clock.value),
                    due_at=breach.due_at,
                    detected_at=now,
                )
            )
            new += 1
    return new


def sweep(db: Database, policy: SlaPolicy, *, now: dt.datetime) -> int:
    """Record the breaches of clocks that ran past due without any event arriving; how many were new."""
    with db.transaction() as session:
        rows = session.exec(select(HandoffRow).where(overdue_condition(now))).all()
        return sum(record_breaches(session, handoff_of(row), policy, now=now) for row in rows)


SEQ_OF_CLOCK = {SlaClock.ACKNOWLEDGE.value: 1, SlaClock.RESPOND.value: 2}
TRACKER_ACTOR = "RUJUKAN-TRACKER"


class BreachOutbox:
    """Detected breaches seen as an outbox of SlaBreached events for the SLA topic.

    The event is encoded from stored values only (detected_at, due_at, the handoff's attributes), so a
    republished breach has the same event id and the same bytes. ``seq`` numbers the SLA events of one
    referral by clock (acknowledge 1, respond 2); they carry no hash chain.
    """

    def __init__(self, db: Database, topic: str, codec: EventCodec | None = None) -> None:
        self._db = db
        self._topic = topic
        self._codec = codec or EventCodec()

    def unpublished(self, limit: int) -> list[OutboxMessage]:
        query = (
            select(SlaBreachRow, HandoffRow)
            .join(HandoffRow, col(HandoffRow.referral_id) == col(SlaBreachRow.referral_id))
            .where(col(SlaBreachRow.published_at).is_(None))
            .order_by(col(SlaBreachRow.detected_at))
            .limit(limit)
        )
        with self._db.read() as session:
            pairs = session.exec(query).all()
        return [self._message(breach, handoff) for breach, handoff in pairs]

    def _message(self, breach: SlaBreachRow, handoff: HandoffRow) -> OutboxMessage:
        value = self._codec.encode(
            {
                "event_id": uuid.UUID(breach.event_id),
                "event_type": "SlaBreached",
                "occurred_at": breach.detected_at,
                "referral_id": uuid.UUID(breach.referral_id),
                "case_id": uuid.UUID(handoff.case_id),
                "seq": SEQ_OF_CLOCK[breach.clock],
                "prev_hash": None,
                "actor_agency": TRACKER_ACTOR,
                "clock": breach.clock,
                "due_at": breach.due_at,
                "from_agency": handoff.from_agency,
                "to_agency": handoff.to_agency,
                "urgency": handoff.urgency,
                "service_type": handoff.service_type,
            }
        )
        return OutboxMessage(
            position=f"{breach.referral_id}:{breach.clock}",
            key=breach.referral_id.encode(),
            value=value,
            headers=[("event_type", b"SlaBreached"), ("event_id", breach.event_id.encode())],
        )

    def mark_published(self, positions: list[int | str]) -> None:
        now = dt.datetime.now(dt.UTC)
        with self._db.transaction() as session:
            for position in positions:
                referral_id, clock = str(position).split(":", 1)
                row = session.get(SlaBreachRow, (referral_id, clock))
                if row is not None:
                    row.published_at = now
                    session.add(row)

    def backlog(self) -> int:
        query = select(func.count()).where(col(SlaBreachRow.published_at).is_(None))
        with self._db.read() as session:
            return int(session.exec(query).one())

    def stored_topic_id(self) -> str | None:
        with self._db.read() as session:
            state = session.get(PublisherState, self._topic)
            return state.topic_id if state else None

    def reset(self, topic_id: str, *, republish: bool) -> None:
        with self._db.transaction() as session:
            if republish:
                session.execute(update(SlaBreachRow).values(published_at=None))
            session.merge(PublisherState(topic=self._topic, topic_id=topic_id))


class BreachPublisher(OutboxPublisher):
    def __init__(self, db: Database, settings: CoreSettings) -> None:
        topic = settings.topics.sla_events
        super().__init__(settings, BreachOutbox(db, topic), topic=topic, name="sla-publisher", batch_size=500)
