"""The referral service's outbox relay: the event store, published by rujukan.core.kafka.outbox.

Events go out in ``position`` order with key = referral_id and the headers ``event_type`` and
``event_id``. See the outbox module for the guarantees (at least once, in order, republish after a
broker log reset, producer rebuilt after errors).
"""

from __future__ import annotations

import threading

from sqlalchemy import update
from sqlmodel import col, select

from rujukan.core.kafka.outbox import OutboxMessage, OutboxPublisher
from rujukan.referral.context import ReferralContext
from rujukan.referral.models import ReferralEvent, RelayState
from rujukan.referral.settings import ReferralSettings

BATCH_SIZE = 1000


class EventStoreOutbox:
    """The referral event store seen as an outbox."""

    def __init__(self, ctx: ReferralContext, topic: str) -> None:
        self._ctx = ctx
        self._topic = topic

    def unpublished(self, limit: int) -> list[OutboxMessage]:
        query = (
            select(ReferralEvent)
            .where(col(ReferralEvent.published_at).is_(None))
            .order_by(col(ReferralEvent.position))
            .limit(limit)
        )
        with self._ctx.read() as session:
            rows = session.exec(query).all()
        return [
            OutboxMessage(
                position=row.position or 0,
                key=row.referral_id.encode(),
                value=row.payload,
                headers=[("event_type", row.event_type.encode()), ("event_id", row.event_id.encode())],
            )
            for row in rows
        ]

    def mark_published(self, positions: list[int | str]) -> None:
        with self._ctx.transaction() as session:
            session.execute(
                update(ReferralEvent)
                .where(col(ReferralEvent.position).in_(positions))
                .values(published_at=self._ctx.clock())
            )

    def stored_topic_id(self) -> str | None:
        with self._ctx.read() as session:
            state = session.get(RelayState, self._topic)
            return state.topic_id if state else None

    def reset(self, topic_id: str, *, republish: bool) -> None:
        with self._ctx.transaction() as session:
            if republish:
                session.execute(update(ReferralEvent).values(published_at=None))
            session.merge(RelayState(topic=self._topic, topic_id=topic_id, updated_at=self._ctx.clock()))


class Relay(OutboxPublisher):
    def __init__(self, ctx: ReferralContext, settings: ReferralSettings, *, batch_size: int = BATCH_SIZE) -> None:
        topic = settings.topics.referral_events
        super().__init__(settings, EventStoreOutbox(ctx, topic), topic=topic, name="relay", batch_size=batch_size)


class RelayThread:
    """The relay on a background thread (inside ``referral serve`` or ``rujukan up``)."""

    def __init__(self, ctx: ReferralContext, settings: ReferralSettings) -> None:
        self._relay = Relay(ctx, settings)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._relay.run, args=(self._stop,), name="rujukan-relay", daemon=True)

    def start(self) -> RelayThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
