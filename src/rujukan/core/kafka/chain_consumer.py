"""Consuming the referral events topic with an exactly-once effect: the shared loop of the tracker and
the notifier.

At least once in, exactly once in effect. Each polled batch is applied in one database transaction that
holds the service's own changes (and the ids of the events it processed, which the service's applier
keeps to skip redeliveries) and the next offset of every partition together with the topic id. The
consumer reads every partition of the topic, each from the offset stored for the current topic id; when
the topic id changes (the broker's log was reset) it starts the partitions over from offset 0 and the
applier deduplicates by event id. The id is checked after every poll that brought records, before they
are applied: a new log served at the old log's offsets is never applied.

It joins no Kafka consumer group (docs/adr/0005: the embedded broker's coordinator left joins unanswered
for good after two restarts); the group id setting names the consumer in metrics.

Undecodable events, unknown schemas, events of other topics and events the applier refuses are
dead-lettered (the dead letter is durable before the batch commits) and the partition moves on.

The consumer is a worker of the loop supervisor (:mod:`rujukan.core.loops`): ``step`` polls and applies
once, ``close`` drops its clients, and ``backlog`` measures its lag for the watchdog and the metrics.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from sqlmodel import Session

from rujukan.core.codec import EventCodec
from rujukan.core.db import Database
from rujukan.core.errors import CodecError, RujukanError
from rujukan.core.fast_sql import Upsert, connection_of
from rujukan.core.kafka.clients import close_producer, make_consumer, make_producer
from rujukan.core.kafka.deadletter import DeadLetterPublisher, SourcePosition
from rujukan.core.kafka.lag import LagProbe
from rujukan.core.kafka.topics import describe_topic, ensure_topics, make_admin
from rujukan.core.lifecycle import CHAIN_EVENTS
from rujukan.core.loops import run_until
from rujukan.core.settings import CoreSettings

log = logging.getLogger("rujukan.consumer")
TOPIC_CHECK_S = 2.0
BATCH_RECORDS = 2000  # one transaction (one fsync) per batch: larger batches, fewer commits
FETCH_WAIT_MS = 50  # how long the broker may hold a fetch for more data: bounds the handoff latency it adds
POSITION_KEYS = ("consumer", "topic", "partition")  # every service's consumer_positions table has these
POSITION_COLUMNS = (*POSITION_KEYS, "topic_id", "next_offset")
ROUND_LIMIT_S = 10.0  # a poll (200 ms) and one batch's transaction take far less; beyond it the round is stuck

DeadLetter = Callable[[Any, BaseException], None]


@dataclass
class BatchResult:
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    changed: list[str] = field(default_factory=list)  # referral ids whose state changed
    tallies: Counter[str] = field(default_factory=Counter)  # what else an applier counts (committed with it)


Applier = Callable[[Session, list[tuple[Any, dict[str, Any]]], DeadLetter, BatchResult], None]


class PositionRow(Protocol):
    """A service's table of positions: (consumer, topic, partition) -> topic id and next offset."""

    topic_id: str
    next_offset: int

    def __init__(self, *, consumer: str, topic: str, partition: int, topic_id: str, next_offset: int) -> None: ...


class UnexpectedEvent(RujukanError):
    """A decodable event that does not belong on the topic it was read from."""


class ChainConsumer:
    """One service's consumer of the referral events topic (``name`` keys its stored positions).

    ``topic`` and ``event_types`` let a service consume another topic of Rujukan events the same way
    (the notifier reads SLA breaches like this).
    """

    def __init__(
        self,
        db: Database,
        settings: CoreSettings,
        *,
        name: str,
        group_id: str,
        positions: type[PositionRow],
        applier: Applier,
        codec: EventCodec | None = None,
        on_change: Callable[[list[str]], None] | None = None,
        topic: str | None = None,
        event_types: frozenset[str] = CHAIN_EVENTS,
    ) -> None:
        self._db = db
        self._settings = settings
        self._name = name
        self._group_id = group_id
        self._positions = positions
        self._applier = applier
        self._topic = topic or settings.topics.referral_events
        self._event_types = event_types
        self._codec = codec or EventCodec()
        self._on_change = on_change
        self._topic_id: str | None = None
        self.caught_up = threading.Event()  # set while polls come back empty
        self._deadletters: DeadLetterPublisher | None = None
        self._producer: KafkaProducer | None = None
        self._consumer: KafkaConsumer | None = None
        self._admin: KafkaAdminClient | None = None
        self._lag = LagProbe(
            settings, name=self._name, topic=self._topic, group_id=group_id, stored_offset=self.stored_offset
        )
        self._checked = 0.0
        self._partitions: list[int] = []
        self._upsert: Upsert | None = None  # made on first use, for the database's dialect
        self._upsert_dialect = ""

    # -- applying (one transaction per batch) -------------------------------------------------------
    def apply(self, records: Iterable[Any], *, topic_id: str) -> BatchResult:
        result = BatchResult()
        positions: dict[int, int] = {}
        events: list[tuple[Any, dict[str, Any]]] = []
        for record in records:
            positions[record.partition] = record.offset + 1
            event = self._decode_or_dead_letter(record)
            if event is None:
                result.dead_lettered += 1
            else:
                events.append((record, event))
        with self._db.transaction() as session:
            self._applier(session, events, self._dead_letter, result)
            self._store_positions(session, positions, topic_id)
        if result.changed and self._on_change is not None:
            self._on_change(result.changed)
        return result

    def _store_positions(self, session: Session, positions: dict[int, int], topic_id: str) -> None:
        """Each partition's next offset, with the topic id, in the batch's transaction (one upsert)."""
        connection = connection_of(session)
        if self._upsert is None or self._upsert_dialect != connection.dialect.name:
            table = self._positions.__table__  # type: ignore[attr-defined]
            self._upsert = Upsert(table, POSITION_COLUMNS, POSITION_KEYS, connection.dialect)
            self._upsert_dialect = connection.dialect.name
        rows = [
            {"consumer": self._name, "topic": self._topic, "partition": p, "topic_id": topic_id, "next_offset": o}
            for p, o in positions.items()
        ]
        self._upsert.run(connection, rows)

    def _decode_or_dead_letter(self, record: Any) -> dict[str, Any] | None:
        try:
            decoded = self._codec.decode(record.value)
            if decoded.event_type not in self._event_types:
                raise UnexpectedEvent(f"{decoded.event_type} does not belong on {self._topic}")
        except (CodecError, UnexpectedEvent) as exc:
            self._dead_letter(record, exc)
            return None
        return decoded.record

    def _dead_letter(self, record: Any, error: BaseException) -> None:
        log.warning("dead-lettering %s[%s]@%s: %s", record.topic, record.partition, record.offset, type(error).__name__)
        if self._deadletters is None:
            self._producer = make_producer(self._settings, name=f"{self._name}-dlq")
            self._deadletters = DeadLetterPublisher(
                self._producer, topic=self._settings.topics.dead_letter, consumer=self._name
            )
        self._deadletters.publish(
            source=SourcePosition(record.topic, record.partition, record.offset),
            key=record.key,
            value=record.value,
            error=error,
        )

    # -- positions -----------------------------------------------------------------------------------
    def stored_offset(self, partition: int, current_topic_id: str) -> int:
        """Where to resume a partition: the stored offset for this topic id, else 0 (a new log)."""
        with self._db.read() as session:
            stored = session.get(self._positions, (self._name, self._topic, partition))
        if stored is None or stored.topic_id != current_topic_id:
            return 0
        return stored.next_offset

    # -- the loop worker (rujukan.core.loops) -----------------------------------------------------------
    def step(self) -> int:
        """Poll once and apply what came, in one transaction; the number of records read.

        After any error the Kafka consumer is closed: the next step builds a new one, which resumes from
        the positions stored with the state (nothing of a failed batch was committed, so it is read
        again; an IntegrityError means another consumer applied some of it first, and those events are
        skipped as duplicates then)."""
        consumer, admin = self._session()
        try:
            batches = consumer.poll(timeout_ms=200)
            records = [r for tp in sorted(batches, key=lambda t: t.partition) for r in batches[tp]]
            if records and not self._follow_topic_reset(admin, consumer):
                return 0  # fetched from a new log at the old one's offsets: never applied, read again from 0
            if records:
                self.caught_up.clear()
                self.apply(records, topic_id=self._topic_id or "")
            else:
                self.caught_up.set()
                if time.monotonic() - self._checked > TOPIC_CHECK_S:
                    self._follow_topic_reset(admin, consumer)
        except BaseException:
            self._close_session()
            raise
        return len(records)

    def idle(self) -> None:
        return None  # the poll itself waited for records

    round_limit_s = ROUND_LIMIT_S

    def abort(self) -> None:
        """Close the Kafka consumer from the watchdog's thread: a blocked poll then fails, and the next step
        builds a new consumer."""
        consumer = self._consumer
        if consumer is not None:
            with contextlib.suppress(KafkaError, OSError, RuntimeError):
                consumer.close(autocommit=False, timeout_ms=1000)

    def backlog(self) -> int:
        """Messages on the broker past the stored positions (see :class:`LagProbe`)."""
        return self._lag.measure()

    def run(self, stop: threading.Event) -> None:
        """Run under a supervisor of its own until ``stop`` (tests and single-loop commands)."""
        run_until(stop, {self._name: self})

    def _session(self) -> tuple[KafkaConsumer, KafkaAdminClient]:
        if self._consumer is None or self._admin is None:
            self._close_session()
            admin = make_admin(self._settings, name=f"{self._name}-admin")
            self._admin = admin
            self._topic_id, partitions = self._describe(admin)
            consumer = make_consumer(
                self._settings,
                name=self._name,
                group_id=None,  # no group coordination: see the module docstring
                max_poll_records=BATCH_RECORDS,
                fetch_max_wait_ms=FETCH_WAIT_MS,
            )
            self._consumer = consumer
            self._assign(consumer, partitions)
            self._checked = time.monotonic()
        return self._consumer, self._admin

    def _assign(self, consumer: KafkaConsumer, partitions: list[int]) -> None:
        """Read every partition, each from the position stored for the current topic id (0 for a new log)."""
        assigned = [TopicPartition(self._topic, p) for p in partitions]
        consumer.assign(assigned)
        for tp in assigned:
            consumer.seek(tp, self.stored_offset(tp.partition, self._topic_id or ""))
        self._partitions = partitions

    def _describe(self, admin: KafkaAdminClient) -> tuple[str, list[int]]:
        """The topic's id and partitions, creating Rujukan's topics when it does not exist."""
        found, partitions = describe_topic(admin, self._topic)
        if found is None:
            ensure_topics(admin, self._settings)
            found, partitions = describe_topic(admin, self._topic)
        if found is None or not partitions:
            raise KafkaError(f"topic {self._topic} has no id or no partitions")
        return str(found), partitions

    def _follow_topic_reset(self, admin: KafkaAdminClient, consumer: KafkaConsumer) -> bool:
        """Whether the topic still has this session's id (new partitions are assigned); a new id means a new
        log: the session is rebuilt and starts over. Checked before records are applied: a broker that lost
        its log serves the new one at the old one's offsets, where records look like broken chains."""
        current, partitions = self._describe(admin)
        self._checked = time.monotonic()
        if current != self._topic_id:
            log.warning("%s: topic %s was reset (new id); reading it again from offset 0", self._name, self._topic)
            self._close_session()
            return False
        if partitions != self._partitions:
            log.info("%s: topic %s now has %d partitions", self._name, self._topic, len(partitions))
            self._assign(consumer, partitions)
        return True

    def current_topic_id(self) -> str | None:
        return self._topic_id

    def close(self) -> None:
        self._close_session()
        self._lag.close()
        if self._producer is not None:
            close_producer(self._producer)
        self._producer, self._deadletters = None, None

    def _close_session(self) -> None:
        consumer, admin = self._consumer, self._admin
        self._consumer, self._admin = None, None
        for client in (consumer, admin):
            if client is not None:
                with contextlib.suppress(KafkaError, OSError):
                    client.close()
