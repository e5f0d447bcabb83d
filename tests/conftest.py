"""Fixtures shared by every test: the real embedded broker and per-test Kafka settings.

Tests that need Kafka use ``kafka_settings``: their own topic names on a broker started once per session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rujukan.core.broker import EmbeddedBroker
from rujukan.core.settings import CoreSettings
from tests.kafka_helpers import own_topics


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log_path = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(log_path=log_path) as running:
        yield running


@pytest.fixture
def kafka_settings(broker: EmbeddedBroker, tmp_path: Path) -> CoreSettings:
    """Settings pointing at the session broker, with topic names of this test only."""
    return CoreSettings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        kafka_bootstrap=broker.bootstrap,
        topics=own_topics(),
    )
