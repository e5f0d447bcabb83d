"""Fixtures of the audit tests: settings with topics of their own on the session broker, a publisher of
raw log messages (to tamper with a real log), and the CLI as a user runs it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rujukan.cli.main import app
from rujukan.core.broker import Broker
from rujukan.core.codec import EventCodec
from rujukan.core.kafka.clients import make_producer
from rujukan.core.kafka.topics import ensure_topics, make_admin
from rujukan.core.settings import CoreSettings
from rujukan.tracker.settings import TrackerSettings
from tests.kafka_helpers import own_topics

CODEC = EventCodec()


@pytest.fixture
def audit_settings(broker: Broker, tmp_path: Path) -> TrackerSettings:
    prefix = f"test.{uuid.uuid4().hex[:12]}"
    return TrackerSettings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        kafka_bootstrap=broker.bootstrap,
        tracker_group_id=f"{prefix}.tracker",
        topics=own_topics(),
    )


def publish(settings: CoreSettings, values: list[bytes], *, partition: int | None = None) -> None:
    """Each value keyed by its referral id (as the relay does), or all onto one ``partition``, in order."""
    admin = make_admin(settings)
    ensure_topics(admin, settings)
    admin.close()
    producer = make_producer(settings, name="test-publisher")  # idempotent: each partition keeps the order sent
    sent = [
        producer.send(
            settings.topics.referral_events,
            key=str(CODEC.decode(value).record["referral_id"]).encode(),
            value=value,
            partition=partition,
        )
        for value in values
    ]
    producer.flush(60)
    for future in sent:
        future.get(10)
    producer.close()


Cli = Callable[..., Result]


@pytest.fixture
def cli(audit_settings: TrackerSettings, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``rujukan audit replay ...`` with the environment pointing at this test's topics."""
    monkeypatch.setenv("RUJUKAN_KAFKA_BOOTSTRAP", audit_settings.kafka_bootstrap)
    monkeypatch.setenv("RUJUKAN_TOPICS__REFERRAL_EVENTS", audit_settings.topics.referral_events)
    monkeypatch.setenv("RUJUKAN_TOPICS__AUDIT_CHECKPOINTS", audit_settings.topics.audit_checkpoints)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(
            app, ["audit", "replay", *args, "--data-dir", str(audit_settings.data_dir), "--idle-timeout", "10"]
        )

    return invoke
