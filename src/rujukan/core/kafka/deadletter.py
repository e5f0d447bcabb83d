"""The dead-letter publisher: a poison message moves to ``rujukan.deadletter.v1`` and the partition moves on.

The dead letter keeps the original key and value bytes untouched, and says where they came from and why
in headers. Header values never hold personal data: the error message is the text of a Rujukan error
(safe by construction, see :mod:`rujukan.core.errors`); any other exception contributes its class name
only, because its text could quote payload data.
"""

from __future__ import annotations

from dataclasses import dataclass

from kafka import KafkaProducer

from rujukan.core import metrics
from rujukan.core.errors import RujukanError

SEND_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """Where a message was read from."""

    topic: str
    partition: int
    offset: int


def safe_error_message(error: BaseException) -> str:
    """Text of an error that may be logged or put in a header without leaking personal data."""
    if isinstance(error, RujukanError):
        return str(error)
    return f"{type(error).__name__} (details withheld)"


class DeadLetterPublisher:
    """Publishes poison messages synchronously: the caller only moves on once the dead letter is durable."""

    def __init__(self, producer: KafkaProducer, *, topic: str, consumer: str) -> None:
        self._producer = producer
        self._topic = topic
        self._consumer = consumer

    def publish(self, *, source: SourcePosition, key: bytes | None, value: bytes | None, error: BaseException) -> None:
        headers = [
            ("dlq.source.topic", source.topic.encode()),
            ("dlq.source.partition", str(source.partition).encode()),
            ("dlq.source.offset", str(source.offset).encode()),
            ("dlq.consumer", self._consumer.encode()),
            ("dlq.error.class", type(error).__name__.encode()),
            ("dlq.error.message", safe_error_message(error).encode()),
        ]
        future = self._producer.send(self._topic, key=key, value=value, headers=headers)
        future.get(timeout=SEND_TIMEOUT_S)
        metrics.DEAD_LETTERS.labels(reason=type(error).__name__).inc()
