"""Producer and consumer factories with the settings Rujukan relies on, set explicitly.

Producers: ``acks="all"`` and idempotence, so a retried send never duplicates or reorders within a
partition; a few ms of linger. After a fatal error (e.g. the embedded broker restarted and the producer
id is gone) the caller closes the producer and builds a new one with the same factory.

No client creates a topic by naming it: ``ensure_topics`` creates Rujukan's with the configured
partitions (Apache Kafka runs with auto-creation off; the embedded broker would create 4 partitions).

Every client tries a lost broker again at least every 2 s (kafka-python's default back-off grows to 30 s,
which after a cluster restart keeps a consumer idle long after the brokers are back).

Consumers: no auto-commit (positions live in each service's own database), earliest reset, a short
session so a group joins in about a second, and a bounded ``max_poll_records``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from rujukan.core.settings import CoreSettings

PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 5,
    "batch_size": 64 * 1024,
    "max_in_flight_requests_per_connection": 5,
    "request_timeout_ms": 15_000,
    "delivery_timeout_ms": 30_000,
    "retry_backoff_ms": 100,
    "max_block_ms": 10_000,
    "reconnect_backoff_max_ms": 2_000,
    "bootstrap_timeout_ms": 10_000,
    "allow_auto_create_topics": False,
}
BULK_PRODUCER_OVERRIDES: dict[str, Any] = {"linger_ms": 20, "batch_size": 512 * 1024}

CONSUMER_DEFAULTS: dict[str, Any] = {
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "session_timeout_ms": 6_000,
    "heartbeat_interval_ms": 1_000,
    "max_poll_records": 500,
    "max_poll_interval_ms": 300_000,
    "request_timeout_ms": 15_000,
    "reconnect_backoff_max_ms": 2_000,
    "bootstrap_timeout_ms": 10_000,
    "allow_auto_create_topics": False,
}


def make_producer(settings: CoreSettings, *, name: str, bulk: bool = False, **overrides: Any) -> KafkaProducer:
    """A producer of raw bytes (keys and values encoded by the caller)."""
    config = {**PRODUCER_DEFAULTS, **(BULK_PRODUCER_OVERRIDES if bulk else {}), **overrides}
    return KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        client_id=f"{settings.kafka_client_id}-{name}",
        **config,
    )


def make_consumer(settings: CoreSettings, *, name: str, group_id: str | None, **overrides: Any) -> KafkaConsumer:
    """A consumer of raw bytes. ``group_id=None`` makes a throwaway consumer (no group, no commits)."""
    config = {**CONSUMER_DEFAULTS, **overrides}
    return KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        client_id=f"{settings.kafka_client_id}-{name}",
        group_id=group_id,
        **config,
    )


def close_producer(producer: KafkaProducer, *, timeout: float = 5.0) -> None:
    """Close a producer even when its pending sends cannot finish (the broker is gone).

    kafka-python's ``close`` flushes first; a flush that times out raises and leaves the producer open,
    and its ``__del__`` raises again later in whatever thread collects it. Then the sender is closed by
    force and the pending batches are given up: every caller resends what was not acknowledged (the
    outboxes from their stores, dead letters before their batch commits), so nothing is lost.
    """
    try:
        producer.close(timeout=timeout)
    except KafkaError:
        sender = producer._sender
        if sender is not None:
            sender.force_close()
            sender.join(timeout)
        producer._accumulator.abort_incomplete_batches()
        with contextlib.suppress(KafkaError):
            producer.close(timeout=0)
