"""Fixtures shared by every test: the real embedded broker and per-test Kafka settings.

Tests that need Kafka use ``kafka_settings``: their own topic names on a broker started once per session.

With ``RUJUKAN_TEST_CONTAINERS=1`` and a Docker engine (``pip install -e ".[containers]"``), the session
broker is Apache Kafka (KRaft, Confluent's image, as testcontainers runs it) and the PostgreSQL tests use a
PostgreSQL container: the same tests, on production components. Tests that start, kill and restart
their own embedded broker still use the embedded one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rujukan.core.broker import EmbeddedBroker
from rujukan.core.settings import CoreSettings
from tests import databases
from tests.kafka_helpers import own_topics

CONTAINERS = os.environ.get("RUJUKAN_TEST_CONTAINERS") == "1"
KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.0"
POSTGRES_IMAGE = "postgres:17.6-bookworm"


@dataclass(frozen=True)
class ContainerBroker:
    """What tests use of the session broker: its bootstrap address."""

    bootstrap: str


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    if CONTAINERS:
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as kafka:
            yield ContainerBroker(kafka.get_bootstrap_server())  # type: ignore[misc]
        return
    log_path = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(log_path=log_path) as running:
        yield running


@pytest.fixture(scope="session", autouse=True)
def postgres_server() -> Iterator[None]:
    """The session's PostgreSQL (started on first use by ``tests.databases``) stops with the session."""
    yield
    databases.stop_embedded()


@pytest.fixture
def kafka_settings(broker: EmbeddedBroker, tmp_path: Path) -> CoreSettings:
    """Settings pointing at the session broker, with topic names of this test only."""
    return CoreSettings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        kafka_bootstrap=broker.bootstrap,
        topics=own_topics(),
    )
