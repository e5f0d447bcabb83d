"""Faults of a three-node Apache Kafka cluster, for the fault suite.

- ``leader``: kill -9 the node leading the busiest partition of the referral topic, start it again.
- ``controller``: kill -9 the active controller (the metadata quorum's leader), start it again.
- ``rolling``: stop (SIGTERM, a controlled shutdown) and start each node in turn, waiting for each.
- ``node-down``: kill -9 one node and leave it down for the rest of the run (two of three alive).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from kafka import TopicPartition

from rujukan.core.apache_kafka import LocalKafka
from rujukan.core.kafka.clients import make_consumer
from rujukan.core.kafka.topics import make_admin
from rujukan.core.settings import CoreSettings
from tests.faults.cluster import Cluster


def cluster_fault(system: Cluster, kind: str, down_s: float, rng: random.Random) -> None:
    kafka = system.broker
    assert isinstance(kafka, LocalKafka), "cluster faults need the Apache Kafka cluster"
    if kind == "rolling":
        for node in range(kafka.nodes):
            kafka.stop_node(node)
            kafka.start_node(node)
        return
    if kind == "leader":
        victim = busiest_partition_leader(kafka)
    elif kind == "controller":
        victim = _retrying(kafka.active_controller)
    else:
        victim = rng.choice(kafka.running_nodes())
    kafka.stop_node(victim, kill=True)
    if kind == "node-down":
        return
    time.sleep(down_s)
    kafka.start_node(victim)


def busiest_partition_leader(kafka: LocalKafka) -> int:
    """The index of the node that leads the referral topic's partition holding the most messages."""
    settings = CoreSettings(_env_file=None, kafka_bootstrap=kafka.bootstrap)  # type: ignore[call-arg]
    topic = settings.topics.referral_events
    admin = make_admin(settings, name="fault-admin")
    consumer = make_consumer(settings, name="fault-probe", group_id=None)
    try:
        [described] = admin.describe_topics([topic])
        leaders = {p["partition_index"]: p["leader_id"] for p in described["partitions"]}
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in leaders])
        busiest = max(ends, key=lambda tp: ends[tp]).partition
    finally:
        consumer.close()
        admin.close()
    return int(leaders[busiest]) - 1


def _retrying(find: Callable[[], int | None]) -> int:
    """Ask until the quorum names a leader (it may be between two for a moment)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            found = find()
        except Exception:
            found = None
        if found is not None:
            return int(found)
        time.sleep(0.5)
    raise AssertionError("the metadata quorum named no leader in 30 s")
