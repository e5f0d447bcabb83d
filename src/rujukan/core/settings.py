"""Typed settings shared by every Rujukan process.

Read from ``RUJUKAN_*`` environment variables (and an optional ``.env`` file); every service builds its
own settings class on top of :class:`CoreSettings`. Nothing here connects anywhere: settings are values,
injected into ``create_app(settings)`` / ``main(settings)``; tests build their own.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rujukan.core.sla import DEFAULT_SLA_HOURS, SlaPolicy
from rujukan.core.vocabulary import Urgency

DEFAULT_DATA_DIR = Path("rujukan-data")


class KafkaTopics(BaseSettings):
    """Topic names, partition counts and replication (nested: ``RUJUKAN_TOPICS__...``): used when Rujukan
    creates its topics. On a cluster of three or more brokers: replication factor 3, two in sync."""

    model_config = SettingsConfigDict(frozen=True)

    referral_events: str = "rujukan.referral.events.v1"
    sla_events: str = "rujukan.sla.events.v1"
    dead_letter: str = "rujukan.deadletter.v1"
    audit_events: str = "rujukan.audit.events.v1"
    audit_checkpoints: str = "rujukan.audit.checkpoints.v1"
    directory_events: str = "rujukan.directory.events.v1"
    partitions: int = Field(default=6, ge=1, le=1000)
    replication_factor: int = Field(default=1, ge=1, le=7)
    min_insync_replicas: int = Field(
        default=1, ge=1, le=7, description="Copies a write needs before it is acknowledged (acks=all)."
    )


class CoreSettings(BaseSettings):
    """What every Rujukan process needs: where its data lives, how to reach Kafka, and the SLA policy (the
    referral service writes the due times into the events it creates; the tracker reads them back)."""

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
    sla_hours: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: dict(DEFAULT_SLA_HOURS),
        description="Acknowledge and respond limits in hours per urgency, as JSON; an urgency left out keeps "
        "its default. The referral service writes the due times into each new referral's event.",
    )

    @field_validator("sla_hours")
    @classmethod
    def _complete_sla_hours(cls, given: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        """Refuse unknown urgencies and limits that cannot be; fill in the defaults of those left out (a
        partial setting once stopped the consumer at the first event of another urgency)."""
        unknown = set(given) - {u.value for u in Urgency}
        if unknown:
            raise ValueError(f"unknown urgency {sorted(unknown)[0]!r}; use {', '.join(u.value for u in Urgency)}")
        for urgency, (ack, respond) in given.items():
            if not 0 < ack <= respond:
                raise ValueError(f"{urgency}: the limits must be positive and acknowledge <= respond")
        return {**DEFAULT_SLA_HOURS, **given}

    def sla_policy(self) -> SlaPolicy:
        return SlaPolicy.from_hours(self.sla_hours)
