"""Reading a topic from a start to its end as of the first fetch, with a throwaway consumer.

No group id: nothing is committed and no group's offsets are touched. The end of each partition is the
high watermark the broker reports with the first fetch (``highwater(tp)``), never ``end_offsets`` (wrong
on the embedded broker when a batch holds more than one record); what is written after the replay began
is left for the next replay. A broker that stops answering for ``idle_timeout_s`` ends the read with an
error instead of a wait without end.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from rujukan.audit.errors import ReadError
from rujukan.core.kafka.clients import make_consumer
from rujukan.core.settings import CoreSettings

# Broker write times may run behind the events' own clocks; a window start is sought this much earlier.
SEEK_MARGIN = dt.timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Message:
    partition: int
    offset: int
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


@dataclass
class Progress:
    """Where a read stands: messages read and the total to read (known once every end is known)."""

    read: int = 0
    total: int | None = None


def read_topic(
    settings: CoreSettings,
    topic: str,
    *,
    since: dt.datetime | None = None,
    idle_timeout_s: float = 30.0,
    on_progress: Callable[[Progress], None] | None = None,
    max_poll_records: int = 5000,
) -> Iterator[list[Message]]:
    """Batches of messages of every partition, from the beginning (or near ``since``) to the end."""
    consumer = make_consumer(
        settings,
        name="audit-replay",
        group_id=None,
        max_poll_records=max_poll_records,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    try:
        partitions = _partitions(consumer, topic, idle_timeout_s)
        consumer.assign(partitions)
        starts = _starts(consumer, partitions, since)
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        yield from _read_to_end(consumer, starts, idle_timeout_s, on_progress)
    except KafkaError as exc:
        raise ReadError(f"reading {topic} failed: {type(exc).__name__}") from exc
    finally:
        consumer.close()


def _partitions(consumer: KafkaConsumer, topic: str, timeout_s: float) -> list[TopicPartition]:
    deadline = time.monotonic() + min(timeout_s, 10.0)
    while True:
        found = consumer.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        if time.monotonic() >= deadline:
            raise ReadError(f"topic {topic} does not exist on the broker")
        time.sleep(0.2)


def _starts(
    consumer: KafkaConsumer, partitions: list[TopicPartition], since: dt.datetime | None
) -> dict[TopicPartition, int]:
    beginnings: dict[TopicPartition, int] = consumer.beginning_offsets(partitions)
    if since is None:
        return dict(beginnings)
    # A hint only: the broker indexes its own write times per batch. The events' occurred_at decides.
    millis = int((since - SEEK_MARGIN).timestamp() * 1000)
    found = consumer.offsets_for_times(dict.fromkeys(partitions, max(millis, 0)))
    return {tp: max(beginnings[tp], found[tp].offset if found.get(tp) else beginnings[tp]) for tp in partitions}


def _read_to_end(
    consumer: KafkaConsumer,
    starts: dict[TopicPartition, int],
    idle_timeout_s: float,
    on_progress: Callable[[Progress], None] | None,
) -> Iterator[list[Message]]:
    ends = _Ends(consumer, starts)
    progress = Progress()
    last_progress = time.monotonic()
    while not ends.reached():
        batch = ends.take(consumer.poll(timeout_ms=500))
        if batch:
            last_progress = time.monotonic()
            progress.read += len(batch)
            yield batch
        elif time.monotonic() - last_progress > idle_timeout_s:
            raise ReadError(f"the broker sent nothing for {idle_timeout_s:.0f} s before the end of the log")
        progress.total = ends.total()
        if on_progress is not None:
            on_progress(progress)


class _Ends:
    """Each partition's end, fixed at the first high watermark the broker reports, and how far we are."""

    def __init__(self, consumer: KafkaConsumer, starts: dict[TopicPartition, int]) -> None:
        self._consumer = consumer
        self._starts = starts
        self._next = dict(starts)
        self._ends: dict[TopicPartition, int] = {}

    def take(self, polled: dict[TopicPartition, list[Any]]) -> list[Message]:
        batch: list[Message] = []
        for tp, records in polled.items():
            end = self._end_of(tp)
            for record in records:
                if end is not None and record.offset >= end:
                    break  # written after the replay began
                batch.append(Message(tp.partition, record.offset, record.value, tuple(record.headers or ())))
                self._next[tp] = record.offset + 1
        for tp in self._next:
            if self._end_of(tp) is not None and self._next[tp] >= self._ends[tp]:
                self._consumer.pause(tp)  # done with this partition: fetch no further
        return batch

    def reached(self) -> bool:
        return len(self._ends) == len(self._next) and all(self._next[tp] >= end for tp, end in self._ends.items())

    def total(self) -> int | None:
        if len(self._ends) < len(self._next):
            return None
        return sum(max(end - self._starts[tp], 0) for tp, end in self._ends.items())

    def _end_of(self, tp: TopicPartition) -> int | None:
        if tp not in self._ends:
            highwater = self._consumer.highwater(tp)
            if highwater is not None:
                self._ends[tp] = highwater
        return self._ends.get(tp)
