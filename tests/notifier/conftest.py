"""Fixtures of the notifier tests: a migrated notifier database per backend, settings with own topics
that allow webhooks to loopback over plain http (the SSRF guard's explicit setting)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from ipaddress import ip_network
from pathlib import Path

import pytest

from rujukan.core.broker import Broker
from rujukan.core.db import Database, make_engine
from rujukan.notifier.migrate import upgrade
from rujukan.notifier.settings import NotifierSettings
from tests.databases import BACKENDS, database_url
from tests.kafka_helpers import own_topics


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def notifier_settings(backend: str, tmp_path: Path, broker: Broker) -> Iterator[NotifierSettings]:
    with database_url(backend, tmp_path) as url:
        yield NotifierSettings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=tmp_path / "data",
            notifier_database_url=url,
            kafka_bootstrap=broker.bootstrap,
            notifier_group_id=f"test.{uuid.uuid4().hex[:12]}.notifier",
            topics=own_topics(),
            webhook_allowed_networks=[ip_network("127.0.0.0/8")],
            webhook_allow_http=True,
            webhook_timeout_s=2.0,
            webhook_first_retry_s=0.2,
            webhook_max_retry_s=0.5,
        )


@pytest.fixture
def notifier_db(notifier_settings: NotifierSettings) -> Iterator[Database]:
    engine = make_engine(notifier_settings.database_url())
    upgrade(engine)
    yield Database(engine)
    engine.dispose()
