"""Topic creation and topic identity.

Topic ids matter because the embedded broker forgets everything on restart and recreates topics with new
ids: the relay and the consumers compare the id they stored with the current one to notice a log reset.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from kafka import KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError

from rujukan.core.settings import CoreSettings

UNKNOWN_TOPIC_OR_PARTITION = 3


def make_admin(settings: CoreSettings, *, name: str = "admin") -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        client_id=f"{settings.kafka_client_id}-{name}",
        request_timeout_ms=15_000,
        reconnect_backoff_max_ms=2_000,
        bootstrap_timeout_ms=10_000,  # a broker that is not there is said in 10 s, not 30
    )


def rujukan_topics(settings: CoreSettings) -> list[str]:
    topics = settings.topics
    return [
        topics.referral_events,
        topics.sla_events,
        topics.dead_letter,
        topics.audit_events,
        topics.audit_checkpoints,
        topics.directory_events,
    ]


TOPIC_CONFIGS = {"retention.ms": "-1"}  # the referral log is the audit trail: kept for ever


def ensure_topics(admin: KafkaAdminClient, settings: CoreSettings, names: Iterable[str] | None = None) -> None:
    """Create the given topics (default: all of Rujukan's) with the configured partitions and replication,
    waiting until each has a leader; existing ones stay as they are."""
    wanted = list(names) if names is not None else rujukan_topics(settings)
    topics = settings.topics
    spec = {
        "num_partitions": topics.partitions,
        "replication_factor": topics.replication_factor,
        "configs": {**TOPIC_CONFIGS, "min.insync.replicas": str(topics.min_insync_replicas)},
    }
    for name in wanted:
        try:
            admin.create_topics({name: spec}, wait_for_metadata=True)
        except TopicAlreadyExistsError:
            continue


def topic_id(admin: KafkaAdminClient, topic: str) -> UUID | None:
    """The topic's id (KIP-516), or None when the topic does not exist (or the broker reports no id)."""
    return describe_topic(admin, topic)[0]


def describe_topic(admin: KafkaAdminClient, topic: str) -> tuple[UUID | None, list[int]]:
    """The topic's id and its partition numbers; (None, []) when the topic does not exist."""
    described = admin.describe_topics([topic])
    if not described:
        return None, []
    entry = described[0]
    if entry.get("error_code") == UNKNOWN_TOPIC_OR_PARTITION:
        return None, []
    if entry.get("error_code"):
        raise KafkaError(f"describing topic {topic} failed with error code {entry['error_code']}")
    raw = entry.get("topic_id")
    partitions = sorted(int(p["partition_index"]) for p in entry.get("partitions") or [])
    return (UUID(str(raw)) if raw else None), partitions
