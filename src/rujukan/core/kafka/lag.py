"""How far a consumer is behind the log, measured with clients of its own (the watchdog's thread calls it
while the consumer polls in another).

The lag of a partition is the log end offset minus the position the consumer stored for the current topic
id (a reset log counts from 0); it also sets ``rujukan_consumer_lag_messages``. On the embedded broker the
log end it reports may fall short by part of the last batch (docs/embedded-broker.md).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from rujukan.core import metrics
from rujukan.core.kafka.clients import make_consumer
from rujukan.core.kafka.topics import describe_topic, make_admin
from rujukan.core.settings import CoreSettings


class LagProbe:
    """``stored_offset(partition, topic_id)`` is where the consumer resumes that partition."""

    def __init__(
        self,
        settings: CoreSettings,
        *,
        name: str,
        topic: str,
        group_id: str,
        stored_offset: Callable[[int, str], int],
    ) -> None:
        self._settings, self._name, self._topic, self._group_id = settings, name, topic, group_id
        self._stored_offset = stored_offset
        self._clients: tuple[KafkaAdminClient, KafkaConsumer] | None = None
        self._lock = threading.Lock()

    def measure(self) -> int:
        """Messages on the broker past the stored positions; clients are rebuilt after an error."""
        with self._lock:
            try:
                return self._measure()
            except BaseException:
                self._close()
                raise

    def close(self) -> None:
        if self._lock.acquire(timeout=1.0):  # else a measurement is under way; its next error closes it
            try:
                self._close()
            finally:
                self._lock.release()

    def _measure(self) -> int:
        if self._clients is None:
            self._clients = (
                make_admin(self._settings, name=f"{self._name}-lag"),
                make_consumer(self._settings, name=f"{self._name}-lag", group_id=None),
            )
        admin, probe = self._clients
        current, partitions = describe_topic(admin, self._topic)
        if current is None:
            return 0
        ends = probe.end_offsets([TopicPartition(self._topic, p) for p in partitions])
        total = 0
        for tp, end in ends.items():
            lag = max(0, int(end) - self._stored_offset(tp.partition, str(current)))
            metrics.CONSUMER_LAG.labels(group=self._group_id, topic=self._topic, partition=str(tp.partition)).set(lag)
            total += lag
        return total

    def _close(self) -> None:
        clients, self._clients = self._clients, None
        for client in clients or ():
            with contextlib.suppress(KafkaError, OSError):
                client.close()
