"""Poison messages land in the dead-letter topic with their origin and a reason that leaks nothing."""

from __future__ import annotations

import pytest

from rujukan.core.codec import EventCodec
from rujukan.core.errors import CodecError
from rujukan.core.kafka.clients import make_producer
from rujukan.core.kafka.deadletter import DeadLetterPublisher, SourcePosition, safe_error_message
from rujukan.core.kafka.topics import ensure_topics, make_admin
from rujukan.core.settings import CoreSettings
from tests.kafka_helpers import read_topic

pytestmark = pytest.mark.integration


def test_a_poison_message_is_dead_lettered_with_reason_headers(kafka_settings: CoreSettings) -> None:
    admin = make_admin(kafka_settings)
    ensure_topics(admin, kafka_settings)
    admin.close()
    poison = b"\xc3\x01" + b"\x00" * 8 + b"garbage"
    try:
        EventCodec().decode(poison)
    except CodecError as exc:
        error = exc
    producer = make_producer(kafka_settings, name="test-dlq")
    publisher = DeadLetterPublisher(producer, topic=kafka_settings.topics.dead_letter, consumer="tracker-v1")
    source = SourcePosition(topic=kafka_settings.topics.referral_events, partition=2, offset=41)
    publisher.publish(source=source, key=b"referral-key", value=poison, error=error)
    producer.close()

    [record] = read_topic(kafka_settings, kafka_settings.topics.dead_letter, expected=1)
    headers = {name: value.decode() for name, value in record.headers}
    assert record.value == poison
    assert record.key == b"referral-key"
    assert headers == {
        "dlq.source.topic": kafka_settings.topics.referral_events,
        "dlq.source.partition": "2",
        "dlq.source.offset": "41",
        "dlq.consumer": "tracker-v1",
        "dlq.error.class": "UnknownFingerprint",
        "dlq.error.message": "unknown writer schema fingerprint 0000000000000000",
    }


def test_foreign_exception_text_is_withheld() -> None:
    leaky = ValueError("invalid value 'Siti Aminah 3175014501900001'")
    assert safe_error_message(leaky) == "ValueError (details withheld)"
