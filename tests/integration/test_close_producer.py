"""Closing a producer whose broker died with sends pending: no exception, now or when it is collected
(kafka-python's own close raises from its flush and leaves the producer open; its __del__ then raised
in whichever later test collected it)."""

from __future__ import annotations

import gc
import warnings
from pathlib import Path

import pytest

from rujukan.core.kafka.clients import close_producer, make_producer
from rujukan.core.kafka.topics import ensure_topics, make_admin
from rujukan.core.settings import CoreSettings
from tests.brokers import own_broker
from tests.kafka_helpers import own_topics

pytestmark = pytest.mark.integration


def test_a_producer_with_sends_pending_on_a_dead_broker_closes_quietly(tmp_path: Path) -> None:
    with own_broker(tmp_path) as broker:
        settings = CoreSettings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=tmp_path,
            kafka_bootstrap=broker.bootstrap,
            topics=own_topics(),
        )
        admin = make_admin(settings)
        ensure_topics(admin, settings)
        admin.close()
        producer = make_producer(settings, name="test-close")
        producer.send(settings.topics.referral_events, key=b"k", value=b"first").get(timeout=20)
        broker.kill()
        pending = producer.send(settings.topics.referral_events, key=b"k", value=b"second")
        close_producer(producer, timeout=1)
    assert producer._closed
    assert pending.is_done
    assert not pending.succeeded()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del producer
        gc.collect()
