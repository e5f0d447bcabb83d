"""Fixtures shared by every test: the session's broker, PostgreSQL, and per-test Kafka settings.

Tests that need Kafka use ``kafka_settings``: their own topic names on a broker started once per session,
of the kind ``RUJUKAN_TEST_BROKER`` names (``embedded`` by default, ``kafka`` or ``kafka-cluster``: see
``tests.brokers``). Tests that stop, kill or restart a broker get their own of the same kind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rujukan.core.broker import Broker
from rujukan.core.settings import CoreSettings
from tests import databases
from tests.brokers import TEST_BROKER, own_broker
from tests.kafka_helpers import own_topics


def pytest_report_header() -> str:
    return f"rujukan: broker {TEST_BROKER} (RUJUKAN_TEST_BROKER), PostgreSQL {databases.server_kind()}"


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with own_broker(tmp_path_factory.mktemp("broker")) as running:
        yield running


@pytest.fixture(scope="session", autouse=True)
def postgres_server() -> Iterator[None]:
    """The session's PostgreSQL (started on first use by ``tests.databases``) stops with the session."""
    yield
    databases.stop_embedded()


@pytest.fixture
def kafka_settings(broker: Broker, tmp_path: Path) -> CoreSettings:
    """Settings pointing at the session broker, with topic names of this test only."""
    return CoreSettings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        kafka_bootstrap=broker.bootstrap,
        topics=own_topics(),
    )
