"""Reading a topic from a start to its end as of the first fetch, with a throwaway consumer.

No group id: nothing is committed and no group's offsets are touched. The end of each partition is the
high watermark the broker reports with the first fetch (``highwater(tp)``), never ``end_offsets`` (wrong
on the embedded broker when a batch holds more than one record); what is written after the replay began
is left for the next replay. A broker that stops answering for ``idle_timeout_s`` ends the read with an
error instead of a wait without end.

:func:`read_topic_in_helper` is the same read in a helper process: kafka-python fetches and unpacks
records in Python, which takes about as long as verifying them, so with the reading on one core and the
verifying on the other a replay goes nearly twice as fast. Batches come through a pipe in log order (the
pipe's buffer bounds what is in flight); an error of the read, or the helper's end, is a ReadError here.
The helper is spawned (a fork would copy the locks of this process's threads) without the parent's main
module: spawn would run it again in the child, and for the ``rujukan`` command that is the whole CLI, 1.6 s
of imports before the first fetch (``_without_main``).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import pickle
import signal
import sys
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, NamedTuple

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from rujukan.audit.errors import ReadError
from rujukan.core.kafka.clients import make_consumer
from rujukan.core.logs import helper_logging
from rujukan.core.settings import CoreSettings

# Broker write times may run behind the events' own clocks; a window start is sought this much earlier.
SEEK_MARGIN = dt.timedelta(hours=1)
HELPER_GRACE_S = 15.0  # past its own idle timeout, a reading process that sends nothing is taken to hang


class Message(NamedTuple):  # a tuple: a million of them are made per million events read
    partition: int
    offset: int
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


Run = tuple[int, list[Any]]  # a partition and the records kafka-python polled of it, in offset order
# A partition, and its messages as columns: offsets, values, headers (lists pickle ten times faster than as
# many small tuples)
Columns = tuple[int, list[int], list[bytes | None], list[tuple[tuple[str, bytes | None], ...]]]


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
    for runs in _read_runs(settings, topic, since, idle_timeout_s, on_progress, max_poll_records):
        yield [
            Message(partition, r.offset, r.value, tuple(r.headers or ()))
            for partition, records in runs
            for r in records
        ]


def _read_runs(
    settings: CoreSettings,
    topic: str,
    since: dt.datetime | None,
    idle_timeout_s: float,
    on_progress: Callable[[Progress], None] | None,
    max_poll_records: int = 5000,
) -> Iterator[list[Run]]:
    """The read of :func:`read_topic`, as kafka-python gives it: per poll, each partition's run of records."""
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


def read_topic_in_helper(
    settings: CoreSettings,
    topic: str,
    *,
    since: dt.datetime | None = None,
    idle_timeout_s: float = 30.0,
    on_progress: Callable[[Progress], None] | None = None,
) -> Iterator[list[Message]]:
    """:func:`read_topic`, read by a helper process (see the module docstring)."""
    for columns in read_columns_in_helper(
        settings, topic, since=since, idle_timeout_s=idle_timeout_s, on_progress=on_progress
    ):
        yield [Message(p, *row) for p, *column in columns for row in zip(*column, strict=True)]


def read_columns_in_helper(
    settings: CoreSettings,
    topic: str,
    *,
    since: dt.datetime | None = None,
    idle_timeout_s: float = 30.0,
    on_progress: Callable[[Progress], None] | None = None,
) -> Iterator[list[Columns]]:
    """:func:`read_topic_in_helper` without a Message per record: each batch as it comes through the pipe,
    per partition its offsets, values and headers (the replay walks them; a tuple per event costs it a
    tenth of its time)."""
    context = multiprocessing.get_context("spawn")
    receiving, sending = context.Pipe(duplex=False)
    helper = context.Process(
        target=_read_for, args=(sending, settings, topic, since, idle_timeout_s), name="audit-reader", daemon=True
    )
    with _without_main():
        helper.start()
    sending.close()  # the helper holds the only sending end: its end is the pipe's end
    try:
        while True:
            parcel = _receive(receiving, helper, idle_timeout_s)
            if parcel[0] == "batch":
                yield parcel[1]
            elif parcel[0] == "progress":
                if on_progress is not None:
                    on_progress(Progress(*parcel[1:]))
            elif parcel[0] == "raise":
                raise parcel[1]
            else:
                return
    finally:
        receiving.close()
        if helper.is_alive():
            helper.terminate()
        helper.join(5)


@contextmanager
def _without_main() -> Iterator[None]:
    """While a child is spawned: no main module for it to run again. Spawn looks at ``sys.modules["__main__"]``
    to prepare the child; the helper's target and arguments are importable without it."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _receive(receiving: Connection, helper: BaseProcess, idle_timeout_s: float) -> tuple[Any, ...]:
    """The helper's next parcel; it sends one after every poll of the broker, so a silence much longer than
    its own idle timeout means it hangs."""
    deadline = time.monotonic() + idle_timeout_s + HELPER_GRACE_S
    while not receiving.poll(1.0):
        if not helper.is_alive():
            break
        if time.monotonic() > deadline:
            raise ReadError(f"the reading process sent nothing for {idle_timeout_s + HELPER_GRACE_S:.0f} s")
    try:
        parcel: tuple[Any, ...] = receiving.recv()
    except (EOFError, OSError):  # OSError: it died halfway through sending a parcel ("end of file during message")
        helper.join(5)
        code = helper.exitcode
        how = "still running" if code is None else f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        raise ReadError(f"the reading process ended before the end of the log ({how})") from None
    return parcel


def _read_for(
    sending: Connection, settings: CoreSettings, topic: str, since: dt.datetime | None, idle_timeout_s: float
) -> None:
    """The helper process: each batch of the read, by partition in columns (lists pickle ten times faster
    than as many small tuples), and its progress; then ("end",), or ("raise", the error that ended it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the replay, which ends this process
    helper_logging()
    try:
        for runs in _read_runs(
            settings,
            topic,
            since,
            idle_timeout_s,
            lambda progress: sending.send(("progress", progress.read, progress.total)),
        ):
            columns = [
                (
                    partition,
                    [r.offset for r in records],
                    [r.value for r in records],
                    [tuple(r.headers or ()) for r in records],
                )
                for partition, records in runs
            ]
            sending.send(("batch", columns))
        sending.send(("end",))
    except Exception as exc:  # whatever it is, the replay says the read failed (and never hangs on it)
        sending.send(("raise", _portable(exc, topic)))
    finally:
        sending.close()


def _portable(exc: Exception, topic: str) -> Exception:
    """``exc`` itself when it is a ReadError or a KafkaError that survives the pipe (the replay's process
    raises it again, to be reported as if it had read itself); else a ReadError naming its kind."""
    if isinstance(exc, ReadError | KafkaError):
        try:
            found = pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes, made just now
        except Exception:  # noqa: S110 - an error type that does not pickle: named below instead
            pass
        else:
            if isinstance(found, Exception):
                return found
    return ReadError(f"reading {topic} failed: {type(exc).__name__}")


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
) -> Iterator[list[Run]]:
    ends = _Ends(consumer, starts)
    progress = Progress()
    last_progress = time.monotonic()
    while not ends.reached():
        runs = ends.take(consumer.poll(timeout_ms=500))
        if runs:
            last_progress = time.monotonic()
            progress.read += sum(len(records) for _, records in runs)
            yield runs
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

    def take(self, polled: dict[TopicPartition, list[Any]]) -> list[Run]:
        runs: list[Run] = []
        for tp, records in polled.items():
            end = self._end_of(tp)
            if end is not None and records and records[-1].offset >= end:
                records = [r for r in records if r.offset < end]  # the rest was written after the replay began
            if records:
                runs.append((tp.partition, records))
                self._next[tp] = records[-1].offset + 1
        for tp in self._next:
            if self._end_of(tp) is not None and self._next[tp] >= self._ends[tp]:
                self._consumer.pause(tp)  # done with this partition: fetch no further
        return runs

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
