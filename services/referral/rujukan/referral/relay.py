"""The referral service's outboxes: the event store (the relay) and the record of disclosures, each
published by rujukan.core.kafka.outbox under the loop supervisor.

Events go out in ``position`` order with key = referral_id and the headers ``event_type`` and
``event_id``. See the outbox module for the guarantees (at least once, in order, republish after a
broker log reset, producer rebuilt after errors).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select

from rujukan.core.kafka.outbox import OutboxMessage, OutboxPublisher
from rujukan.core.lease import once
from rujukan.core.loops import Supervisor
from rujukan.referral.context import ReferralContext
from rujukan.referral.housekeeping import housekeeping
from rujukan.referral.models import Disclosure, ReferralEvent, RelayState
from rujukan.referral.settings import ReferralSettings

BATCH_SIZE = 1000


class _StoredEvents:
    """A table of stored events with a ``published_at`` column, seen as the outbox of one topic; which
    table, which column names a row and what a row becomes is the subclass's."""

    table: Any
    position: str  # the column that names a row for mark_published
    order: str  # the column rows are published in the order of

    def __init__(self, ctx: ReferralContext, topic: str) -> None:
        self._ctx = ctx
        self._topic = topic

    def message(self, row: Any) -> OutboxMessage:
        raise NotImplementedError

    def unpublished(self, limit: int) -> list[OutboxMessage]:
        query = (
            select(self.table)
            .where(col(self.table.published_at).is_(None))
            .order_by(col(getattr(self.table, self.order)))
            .limit(limit)
        )
        with self._ctx.read() as session:
            return [self.message(row) for row in session.exec(query).all()]

    def mark_published(self, positions: list[int | str]) -> None:
        with self._ctx.transaction() as session:
            session.execute(
                update(self.table)
                .where(col(getattr(self.table, self.position)).in_(positions))
                .values(published_at=self._ctx.clock())
            )

    def backlog(self) -> int:
        query = select(func.count()).where(col(self.table.published_at).is_(None))
        with self._ctx.read() as session:
            return int(session.exec(query).one())

    def stored_topic_id(self) -> str | None:
        with self._ctx.read() as session:
            state = session.get(RelayState, self._topic)
            return state.topic_id if state else None

    def reset(self, topic_id: str, *, republish: bool) -> None:
        with self._ctx.transaction() as session:
            if republish:
                session.execute(update(self.table).values(published_at=None))
            session.merge(RelayState(topic=self._topic, topic_id=topic_id, updated_at=self._ctx.clock()))


class EventStoreOutbox(_StoredEvents):
    """The referral event store seen as an outbox."""

    table, position, order = ReferralEvent, "position", "position"

    def message(self, row: ReferralEvent) -> OutboxMessage:
        return OutboxMessage(
            position=row.position or 0,
            key=row.referral_id.encode(),
            value=row.payload,
            headers=[("event_type", row.event_type.encode()), ("event_id", row.event_id.encode())],
        )


class Relay(OutboxPublisher):
    def __init__(self, ctx: ReferralContext, settings: ReferralSettings, *, batch_size: int = BATCH_SIZE) -> None:
        topic = settings.topics.referral_events
        super().__init__(settings, EventStoreOutbox(ctx, topic), topic=topic, name="relay", batch_size=batch_size)


class DisclosureOutbox(_StoredEvents):
    """Stored SealedDataDisclosed events seen as an outbox of the audit topic: a disclosure whose
    publication failed when the auditor asked is published as soon as the broker takes it."""

    table, position, order = Disclosure, "event_id", "occurred_at"

    def message(self, row: Disclosure) -> OutboxMessage:
        return OutboxMessage(
            position=row.event_id,
            key=row.event_id.encode(),
            value=row.payload,
            headers=[("event_type", b"SealedDataDisclosed"), ("event_id", row.event_id.encode())],
        )


def referral_loops(ctx: ReferralContext, settings: ReferralSettings) -> Supervisor:
    """The referral service's background loops (the relay, the disclosure outbox and housekeeping) under
    one supervisor, not started. Any number of instances may run them on one database: each loop works
    in one instance at a time, under a lease; a standby takes over within seconds of the active one's
    death."""
    audit = settings.topics.audit_events
    disclosures = OutboxPublisher(settings, DisclosureOutbox(ctx, audit), topic=audit, name="disclosures")
    tidying = housekeeping(ctx, idempotency_hours=settings.idempotency_hours, retention_days=settings.retention_days)
    return (
        Supervisor()
        .add("relay", once(ctx.engine, "relay", Relay(ctx, settings)))
        .add("disclosures", once(ctx.engine, "disclosures", disclosures))
        .add("housekeeping", once(ctx.engine, "housekeeping", tidying))
    )
