"""The broker the tests run on, chosen by ``RUJUKAN_TEST_BROKER``.

- ``embedded`` (default): Tansu, in memory; a restart loses the log (the relay refills it).
- ``kafka``: one Apache Kafka node (KRaft), its log on disk; a restart keeps the log.
- ``kafka-cluster``: three Apache Kafka nodes; topics with replication factor 3 and min.insync.replicas 2.

The jars of Apache Kafka are fetched once (``rujukan kafka install``) when a Kafka kind is asked for.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rujukan.core.apache_kafka import LocalKafka
from rujukan.core.broker import Broker, EmbeddedBroker
from rujukan.core.kafka_install import install
from rujukan.core.kafka_settings import topic_replication

KINDS = {"embedded": 1, "kafka": 1, "kafka-cluster": 3}
TEST_BROKER = os.environ.get("RUJUKAN_TEST_BROKER", "embedded")
if TEST_BROKER not in KINDS:
    raise SystemExit(f"RUJUKAN_TEST_BROKER must be one of {', '.join(KINDS)}, not {TEST_BROKER!r}")
NODES = KINDS[TEST_BROKER]
APACHE_KAFKA = TEST_BROKER != "embedded"
KEEPS_LOG = APACHE_KAFKA  # a restarted broker still holds every topic, message and committed offset


def replication() -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for the topics the tests create."""
    return topic_replication(NODES)


@contextmanager
def own_broker(directory: Path) -> Iterator[Broker]:
    """A broker of the session's kind for one test (which may stop, kill and restart it)."""
    if not APACHE_KAFKA:
        with EmbeddedBroker(log_path=directory / "broker.log") as embedded:
            yield embedded
        return
    install()
    kafka = LocalKafka(directory / "kafka", nodes=NODES)
    try:
        yield kafka.start()
    finally:
        kafka.stop()
