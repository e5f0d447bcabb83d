"""Publishing a database outbox to Kafka, in order, at least once; used by every Rujukan producer.

Each round reads the oldest unpublished messages from the store, sends them, waits for the broker's
acknowledgement of all of them, and only then marks them published. A crash between send and mark
re-sends them (consumers deduplicate by event id); nothing is ever skipped. The publisher is a worker of
the loop supervisor (:mod:`rujukan.core.loops`): a Kafka error or a database outage fails the round, the
supervisor backs off and tries again, rebuilding the clients (``close``) when errors persist.

Broker log reset: the publisher remembers the id of the topic it publishes to (in the store). When the
topic is gone or its id changed, the store marks every message unpublished again and the whole outbox is
republished. After any Kafka error the producer is closed and rebuilt, because an idempotent producer
is unusable once its broker restarted. When idle, the topic id is checked at most once a second, and an
outbox that is written to now and then (``max_idle_s``) waits longer after each empty round, up to that
long: polling its table 20 times a second cost a busy process several per cent of its time. Under a steady
trickle, a round that published less than a full batch is followed by the next one no sooner than
``PACE_S`` after it began, so each round takes what came in meanwhile: back to back, rounds of a few events
each spent a fifth of a busy referral service's time on their fixed cost (sessions, topic checks).
A batch is marked published only when, after the broker acknowledged it, the topic still has the same id
and every partition written to: a producer with stale metadata (the embedded broker came back and the
topic with fewer partitions) gets acknowledgements for partitions that no consumer can see.
``backlog`` counts the rows not yet published (for the watchdog and ``rujukan_outbox_backlog_events``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol

from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError

from rujukan.core import metrics
from rujukan.core.kafka.clients import close_producer, make_producer
from rujukan.core.kafka.topics import describe_topic, ensure_topics, make_admin
from rujukan.core.settings import CoreSettings

log = logging.getLogger("rujukan.outbox")
IDLE_WAIT_S = 0.05
IDLE_TOPIC_CHECK_S = 1.0
PACE_S = 0.05  # the shortest time from one round's start to the next one's after a partial batch
SEND_TIMEOUT_S = 8.0  # a round waits this long for the broker; then a new producer tries again


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    position: int | str  # the store's identity of the row, handed back to mark_published
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class OutboxStore(Protocol):
    def unpublished(self, limit: int) -> list[OutboxMessage]: ...

    def mark_published(self, positions: list[int | str]) -> None: ...

    def backlog(self) -> int:
        """How many messages are not published yet."""

    def stored_topic_id(self) -> str | None: ...

    def reset(self, topic_id: str, *, republish: bool) -> None:
        """Remember ``topic_id``; with ``republish``, mark every message unpublished again."""


class OutboxPublisher:
    """A loop worker: ``step`` (``run_once``) is one round."""

    def __init__(
        self,
        settings: CoreSettings,
        store: OutboxStore,
        *,
        topic: str,
        name: str,
        batch_size: int = 1000,
        max_idle_s: float = IDLE_WAIT_S,
    ) -> None:
        self._settings = settings
        self._store = store
        self._topic = topic
        self._name = name
        self._batch_size = batch_size
        self._producer: KafkaProducer | None = None
        self._admin: KafkaAdminClient | None = None
        self._known_topic_id: str | None = None
        self._last_topic_check = -IDLE_TOPIC_CHECK_S
        self._max_idle_s = max_idle_s
        self._idle_s = IDLE_WAIT_S  # the next idle wait: doubled after each empty round, up to max_idle_s
        self._next_round = 0.0  # monotonic time before which a round after a partial batch does not start

    def run_once(self) -> int:
        """Publish one batch; the number of messages published (0 when there was nothing to do)."""
        rows = self._store.unpublished(self._batch_size)
        now = time.monotonic()
        if not rows and now - self._last_topic_check < IDLE_TOPIC_CHECK_S:
            return 0
        current, _ = self._current_topic()
        self._last_topic_check = now
        if self._reset_if_topic_changed(current):
            rows = self._store.unpublished(self._batch_size)
        if not rows:
            return 0
        producer = self._producer_or_new()
        futures = [producer.send(self._topic, key=r.key, value=r.value, headers=r.headers) for r in rows]
        producer.flush(timeout=SEND_TIMEOUT_S)
        written = {future.get(timeout=SEND_TIMEOUT_S).partition for future in futures}
        after, partitions = self._current_topic()
        if after != current:
            return 0  # the log was reset while we sent: the next round republishes everything
        unreadable = written - set(partitions)
        if unreadable:
            # The producer's metadata was stale (a broker restarted and the topic came back with fewer
            # partitions); the embedded broker acknowledges writes to partitions no consumer can see.
            log.warning(
                "%s: the broker acknowledged writes to partitions %s that topic %s does not have; "
                "sending them again with fresh metadata",
                self._name,
                sorted(unreadable),
                self._topic,
            )
            self.close()
            return 0
        self._mark_published([row.position for row in rows])
        return len(rows)

    def step(self) -> int:
        began = time.monotonic()
        if began < self._next_round:
            time.sleep(self._next_round - began)
            began = self._next_round
        try:
            published = self.run_once()
        except KafkaError:
            self.close()  # an idempotent producer may be unusable after any Kafka error: a new one next time
            raise
        if published:
            self._idle_s = IDLE_WAIT_S
        self._next_round = began + PACE_S if 0 < published < self._batch_size else 0.0
        return published

    def idle(self) -> None:
        time.sleep(self._idle_s)
        self._idle_s = min(self._idle_s * 2, self._max_idle_s)

    def backlog(self) -> int:
        found = self._store.backlog()
        metrics.OUTBOX_BACKLOG.labels(outbox=self._name).set(found)
        return found

    def close(self) -> None:
        producer, self._producer = self._producer, None
        admin, self._admin = self._admin, None
        if producer is not None:
            close_producer(producer)
        if admin is not None:
            admin.close()

    def _mark_published(self, positions: list[int | str]) -> None:
        self._store.mark_published(positions)

    def _producer_or_new(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = make_producer(self._settings, name=self._name)
        return self._producer

    def _current_topic(self) -> tuple[str, list[int]]:
        """The topic's id and partitions, creating Rujukan's topics when it does not exist."""
        if self._admin is None:
            self._admin = make_admin(self._settings, name=f"{self._name}-admin")
        found, partitions = describe_topic(self._admin, self._topic)
        if found is None:
            ensure_topics(self._admin, self._settings)
            found, partitions = describe_topic(self._admin, self._topic)
        if found is None:
            raise KafkaError(f"topic {self._topic} has no id after creation")
        return str(found), partitions

    def _reset_if_topic_changed(self, current: str) -> bool:
        """Republish everything when the topic is not the one we published to; True if so."""
        if current == self._known_topic_id:
            return False
        stored = self._store.stored_topic_id()
        reset = stored is not None and stored != current
        if reset:
            log.warning(
                "%s: topic %s was reset (id %s -> %s); republishing everything",
                self._name,
                self._topic,
                stored,
                current,
            )
        if stored != current:
            self._store.reset(current, republish=reset)
        self._known_topic_id = current
        return reset
