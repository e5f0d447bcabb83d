"""Fixtures of the tracker tests: a migrated tracker database per backend, settings with own topics."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rujukan.core.broker import Broker
from rujukan.core.db import Database, make_engine
from rujukan.tracker.migrate import upgrade
from rujukan.tracker.settings import TrackerSettings
from tests.databases import BACKENDS, database_url
from tests.kafka_helpers import own_topics


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def tracker_settings(backend: str, tmp_path: Path, broker: Broker) -> Iterator[TrackerSettings]:
    prefix = f"test.{uuid.uuid4().hex[:12]}"
    with database_url(backend, tmp_path) as url:
        yield TrackerSettings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=tmp_path / "data",
            tracker_database_url=url,
            kafka_bootstrap=broker.bootstrap,
            tracker_group_id=f"{prefix}.tracker",
            topics=own_topics(),
        )


@pytest.fixture
def tracker_db(tracker_settings: TrackerSettings) -> Iterator[Database]:
    engine = make_engine(tracker_settings.database_url())
    upgrade(engine)
    yield Database(engine)
    engine.dispose()
