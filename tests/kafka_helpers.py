"""Test helpers that read a topic back with a throwaway consumer, polling against a deadline."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from kafka import TopicPartition

from rujukan.core.codec import EventCodec
from rujukan.core.kafka.clients import make_consumer, make_producer
from rujukan.core.kafka.topics import ensure_topics, make_admin
from rujukan.core.settings import CoreSettings, KafkaTopics
from tests.brokers import replication


def read_topic(settings: CoreSettings, topic: str, *, expected: int, timeout: float = 20.0) -> list[Any]:
    """Every record of ``topic`` from the beginning, once at least ``expected`` have arrived."""
    consumer = make_consumer(settings, name="test-reader", group_id=None)
    try:
        partitions = _wait_for_partitions(consumer, topic, timeout)
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def _wait_for_partitions(consumer: Any, topic: str, timeout: float) -> list[TopicPartition]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return [TopicPartition(topic, p) for p in sorted(partitions)]
        time.sleep(0.1)
    raise AssertionError(f"topic {topic} has no partitions after {timeout} s")


def own_topics(*, partitions: int = 3) -> KafkaTopics:
    """Topic names no other test uses, on a broker shared by the whole session (replicated as the
    session's broker allows)."""
    prefix = f"test.{uuid.uuid4().hex[:12]}"
    replication_factor, min_insync = replication()
    return KafkaTopics(
        replication_factor=replication_factor,
        min_insync_replicas=min_insync,
        referral_events=f"{prefix}.referral.events",
        sla_events=f"{prefix}.sla.events",
        dead_letter=f"{prefix}.deadletter",
        audit_events=f"{prefix}.audit.events",
        audit_checkpoints=f"{prefix}.audit.checkpoints",
        directory_events=f"{prefix}.directory",
        partitions=partitions,
    )


def publish_events(
    settings: CoreSettings,
    events: list[dict[str, Any]],
    *,
    topic: str | None = None,
    raw: list[bytes] | None = None,
    key: Callable[[dict[str, Any]], str] = lambda event: str(event["referral_id"]),
) -> None:
    """Encode ``events`` and publish them keyed by referral id (or ``key``), as the relay does (to the
    referral events topic unless ``topic`` is given), then any ``raw`` bytes; the topics are created first.
    On the referral events topic, each event's ``log_index`` header is where its id first comes in
    ``events``."""
    codec = EventCodec()
    admin = make_admin(settings)
    ensure_topics(admin, settings)
    admin.close()
    producer = make_producer(settings, name="test-publisher")
    target = topic or settings.topics.referral_events
    first: dict[str, int] = {}
    for event in events:
        index = first.setdefault(str(event["event_id"]), len(first))
        headers = [("event_id", str(event["event_id"]).encode())]
        if target == settings.topics.referral_events:
            headers.append(("log_index", str(index).encode()))
        producer.send(target, key=key(event).encode(), value=codec.encode(event), headers=headers)
    for value in raw or []:
        producer.send(target, key=b"poison", value=value)
    producer.flush(20)
    producer.close()
