"""The outbox relay: publishes the event store to Kafka, in order, at least once.

Each round reads the oldest unpublished events (by ``position``), sends them with key = referral_id
and the headers ``event_type`` and ``event_id``, waits for the broker's acknowledgement of all of them,
and only then marks them published. A crash between send and mark re-sends them (consumers deduplicate by
event id); nothing is ever skipped.

Broker log reset: the relay remembers the id of the topic it publishes to. When the topic is gone or its
id changed (the embedded broker lost its memory), every event is marked unpublished again and the whole
store is republished from the start. After any Kafka error the producer is closed and rebuilt, because an
idempotent producer is unusable once its broker restarted.
"""

from __future__ import annotations

import logging
import threading
import time

from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError
from sqlalchemy import update
from sqlmodel import col, select

from rujukan.core.kafka.clients import make_producer
from rujukan.core.kafka.topics import ensure_topics, make_admin, topic_id
from rujukan.referral.context import ReferralContext
from rujukan.referral.models import ReferralEvent, RelayState
from rujukan.referral.settings import ReferralSettings

log = logging.getLogger("rujukan.referral.relay")
BATCH_SIZE = 1000
IDLE_WAIT_S = 0.05
IDLE_TOPIC_CHECK_S = 1.0
ERROR_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)
SEND_TIMEOUT_S = 30.0


class Relay:
    """One relay per event store. ``run_once`` is one round; ``run`` loops until stopped."""

    def __init__(self, ctx: ReferralContext, settings: ReferralSettings, *, batch_size: int = BATCH_SIZE) -> None:
        self._ctx = ctx
        self._settings = settings
        self._topic = settings.topics.referral_events
        self._batch_size = batch_size
        self._producer: KafkaProducer | None = None
        self._admin: KafkaAdminClient | None = None
        self._known_topic_id: str | None = None  # the id stored in relay_state, as last read or written
        self._last_topic_check = -IDLE_TOPIC_CHECK_S

    def run_once(self) -> int:
        """Publish one batch; the number of events published (0 when there was nothing to do)."""
        rows = self._unpublished()
        now = time.monotonic()
        if not rows and now - self._last_topic_check < IDLE_TOPIC_CHECK_S:
            return 0  # idle: look for a log reset only now and then
        current = self._current_topic_id()
        self._last_topic_check = now
        if self._reset_if_topic_changed(current):
            rows = self._unpublished()
        if not rows:
            return 0
        producer = self._producer_or_new()
        futures = [
            producer.send(
                self._topic,
                key=row.referral_id.encode(),
                value=row.payload,
                headers=[("event_type", row.event_type.encode()), ("event_id", row.event_id.encode())],
            )
            for row in rows
        ]
        producer.flush(timeout=SEND_TIMEOUT_S)
        for future in futures:
            future.get(timeout=SEND_TIMEOUT_S)
        if self._current_topic_id() != current:
            return 0  # the log was reset while we sent: the next round republishes everything
        self._mark_published([row.position for row in rows if row.position is not None])
        return len(rows)

    def run(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                published = self.run_once()
                failures = 0
            except (KafkaError, OSError) as exc:
                log.warning("relay: Kafka error %s; rebuilding the producer", type(exc).__name__)
                self.close()
                stop.wait(ERROR_BACKOFF_S[min(failures, len(ERROR_BACKOFF_S) - 1)])
                failures += 1
                continue
            if published == 0:
                stop.wait(IDLE_WAIT_S)
        self.close()

    def close(self) -> None:
        producer, self._producer = self._producer, None
        admin, self._admin = self._admin, None
        if producer is not None:
            producer.close(timeout=5)
        if admin is not None:
            admin.close()

    def _producer_or_new(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = make_producer(self._settings, name="relay")
        return self._producer

    def _current_topic_id(self) -> str:
        if self._admin is None:
            self._admin = make_admin(self._settings, name="relay-admin")
        found = topic_id(self._admin, self._topic)
        if found is None:
            ensure_topics(self._admin, self._settings)
            found = topic_id(self._admin, self._topic)
        if found is None:
            raise KafkaError(f"topic {self._topic} has no id after creation")
        return str(found)

    def _reset_if_topic_changed(self, current: str) -> bool:
        """Mark every event unpublished when the topic is not the one we published to; True if so."""
        if current == self._known_topic_id:
            return False
        with self._ctx.transaction() as session:
            state = session.get(RelayState, self._topic)
            reset = state is not None and state.topic_id != current
            if state is not None and reset:
                log.warning(
                    "relay: topic %s was reset (id %s -> %s); republishing every event",
                    self._topic,
                    state.topic_id,
                    current,
                )
                session.execute(update(ReferralEvent).values(published_at=None))
            if state is None or reset:
                session.merge(RelayState(topic=self._topic, topic_id=current, updated_at=self._ctx.clock()))
        self._known_topic_id = current
        return reset

    def _unpublished(self) -> list[ReferralEvent]:
        query = (
            select(ReferralEvent)
            .where(col(ReferralEvent.published_at).is_(None))
            .order_by(col(ReferralEvent.position))
            .limit(self._batch_size)
        )
        with self._ctx.read() as session:
            return list(session.exec(query).all())

    def _mark_published(self, positions: list[int]) -> None:
        with self._ctx.transaction() as session:
            session.execute(
                update(ReferralEvent)
                .where(col(ReferralEvent.position).in_(positions))
                .values(published_at=self._ctx.clock())
            )


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
