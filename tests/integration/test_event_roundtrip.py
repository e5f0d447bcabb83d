"""Every event type travels through the real embedded broker and decodes back equal."""

from __future__ import annotations

import pytest

from rujukan.core.codec import EventCodec
from rujukan.core.kafka.clients import make_producer
from rujukan.core.kafka.topics import ensure_topics, make_admin
from rujukan.core.settings import CoreSettings
from tests.factories import EVENT_TYPES, sample_event
from tests.kafka_helpers import read_topic

pytestmark = pytest.mark.integration


def test_every_event_type_round_trips_through_the_broker(kafka_settings: CoreSettings) -> None:
    codec = EventCodec()
    topic = kafka_settings.topics.referral_events
    admin = make_admin(kafka_settings)
    ensure_topics(admin, kafka_settings)
    admin.close()

    sent = {event_type: sample_event(event_type) for event_type in EVENT_TYPES}
    producer = make_producer(kafka_settings, name="test")
    for event_type, event in sent.items():
        producer.send(
            topic,
            key=str(event["referral_id"]).encode(),
            value=codec.encode(event),
            headers=[("event_type", event_type.encode()), ("event_id", str(event["event_id"]).encode())],
        )
    producer.flush(timeout=20)
    producer.close()

    records = read_topic(kafka_settings, topic, expected=len(sent))
    assert len(records) == len(sent)
    # One key, so one partition, so the broker kept the send order.
    assert len({record.partition for record in records}) == 1
    assert [dict(record.headers)["event_type"].decode() for record in records] == list(sent)
    for record in records:
        decoded = codec.decode(record.value)
        assert decoded.record == sent[decoded.event_type]
        assert dict(record.headers)["event_id"].decode() == str(decoded.record["event_id"])
        assert record.key == str(decoded.record["referral_id"]).encode()
