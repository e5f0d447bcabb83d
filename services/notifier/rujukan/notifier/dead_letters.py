"""The failed deliveries, published to the dead-letter topic through the core outbox publisher.

A delivery that fails for good is first marked failed in the notifier database (by the dispatcher, in the
transaction that stores the attempt); :class:`FailedDeliveries` then lets the core
:class:`~rujukan.core.kafka.outbox.OutboxPublisher` publish it and stamps ``dead_lettered_at`` once the
broker has acknowledged it. So a broker outage delays a dead letter but cannot lose it, and a redelivered
delivery that fails again is dead-lettered again. After a broker log reset (the dead-letter topic has a
new id), every failed delivery is published again.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, func, update
from sqlmodel import col, select

from rujukan.core.db import Database
from rujukan.core.kafka.outbox import OutboxMessage
from rujukan.notifier.models import DeliveryRow, PublisherState
from rujukan.notifier.retry import DeliveryStatus


class FailedDeliveries:
    """The failed deliveries seen as an outbox for the dead-letter topic (see the core outbox publisher).

    The dead letter's value is the thin JSON payload; headers say which delivery, for whom, after how
    many attempts and why, in the same ``dlq.*`` vocabulary as the consumers' dead letters.
    """

    def __init__(self, db: Database, topic: str, *, consumer: str) -> None:
        self._db = db
        self._topic = topic
        self._consumer = consumer

    def unpublished(self, limit: int) -> list[OutboxMessage]:
        query = select(DeliveryRow).where(_unpublished()).order_by(col(DeliveryRow.id)).limit(limit)
        with self._db.read() as session:
            rows = session.exec(query).all()
        return [
            OutboxMessage(
                position=int(row.id or 0),
                key=row.referral_id.encode(),
                value=row.payload.encode(),
                headers=[
                    ("dlq.source.topic", b"webhook"),
                    ("dlq.consumer", self._consumer.encode()),
                    ("dlq.error.class", b"WebhookDeliveryFailed"),
                    ("dlq.error.message", (row.last_error or "").encode()),
                    ("dlq.delivery.id", str(row.id).encode()),
                    ("dlq.delivery.owner", row.owner.encode()),
                    ("dlq.delivery.attempts", str(row.attempts).encode()),
                    ("event_id", row.event_id.encode()),
                    ("event_type", row.webhook_type.encode()),
                ],
            )
            for row in rows
        ]

    def mark_published(self, positions: list[int | str]) -> None:
        with self._db.transaction() as session:
            session.execute(
                update(DeliveryRow)
                .where(col(DeliveryRow.id).in_(positions))
                .values(dead_lettered_at=dt.datetime.now(dt.UTC))
            )

    def backlog(self) -> int:
        query = select(func.count()).where(_unpublished())
        with self._db.read() as session:
            return int(session.exec(query).one())

    def stored_topic_id(self) -> str | None:
        with self._db.read() as session:
            state = session.get(PublisherState, self._topic)
            return state.topic_id if state is not None else None

    def reset(self, topic_id: str, *, republish: bool) -> None:
        with self._db.transaction() as session:
            session.merge(PublisherState(topic=self._topic, topic_id=topic_id))
            if republish:
                failed = col(DeliveryRow.status) == DeliveryStatus.FAILED.value
                session.execute(update(DeliveryRow).where(failed).values(dead_lettered_at=None))


def _unpublished() -> ColumnElement[bool]:
    """Failed deliveries the dead-letter topic has not acknowledged yet."""
    return and_(col(DeliveryRow.status) == DeliveryStatus.FAILED.value, col(DeliveryRow.dead_lettered_at).is_(None))
