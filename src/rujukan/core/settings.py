"""Typed settings shared by every Rujukan process.

Read from ``RUJUKAN_*`` environment variables (and an optional ``.env`` file); every service builds its
own settings class on top of :class:`CoreSettings`. Nothing here connects anywhere: settings are values,
injected into ``create_app(settings)`` / ``main(settings)``; tests build their own.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("rujukan-data")


class KafkaTopics(BaseSettings):
    """Topic names, partition counts and replication (nested: ``RUJUKAN_TOPICS__...``): used when Rujukan
    creates its topics. On a cluster of three or more brokers: replication factor 3, two in sync."""

    model_config = SettingsConfigDict(frozen=True)

    referral_events: str = "rujukan.referral.events.v1"
    sla_events: str = "rujukan.sla.events.v1"
    dead_letter: str = "rujukan.deadletter.v1"
    audit_events: str = "rujukan.audit.events.v1"
    partitions: int = Field(default=6, ge=1, le=1000)
    replication_factor: int = Field(default=1, ge=1, le=7)
    min_insync_replicas: int = Field(
        default=1, ge=1, le=7, description="Copies a write needs before it is acknowledged (acks=all)."
    )


class CoreSettings(BaseSettings):
    """What every Rujukan process needs: where its data lives and how to reach Kafka."""

    model_config = SettingsConfigDict(
        env_prefix="RUJUKAN_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        frozen=True,
    )

    data_dir: Path = Field(default=DEFAULT_DATA_DIR, description="Directory for embedded-mode files.")
    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, comma separated host:port."
    )
    kafka_client_id: str = Field(default="rujukan", description="Client id prefix sent to Kafka.")
    rate_limit_per_s: float = Field(
        default=20.0, ge=0, description="Requests a second each credential may make to an HTTP API (0: no limit)."
    )
    rate_limit_burst: int = Field(default=100, ge=1, description="Requests a credential may make at once.")
    topics: KafkaTopics = Field(default_factory=KafkaTopics)
