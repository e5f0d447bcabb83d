"""The tracker's consumer: the shared chain consumer (exactly-once effect) applying the projection."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rujukan.core import metrics
from rujukan.core.codec import EventCodec
from rujukan.core.db import Database
from rujukan.core.kafka.chain_consumer import BatchResult, ChainConsumer
from rujukan.tracker.batch import apply_events
from rujukan.tracker.models import ConsumerPosition
from rujukan.tracker.settings import TrackerSettings

CONSUMER = "tracker-v1"


class TrackerConsumer(ChainConsumer):
    def __init__(
        self,
        db: Database,
        settings: TrackerSettings,
        *,
        codec: EventCodec | None = None,
        on_change: Callable[[list[str]], None] | None = None,
    ) -> None:
        policy = settings.sla_policy()
        super().__init__(
            db,
            settings,
            name=CONSUMER,
            group_id=settings.tracker_group_id,
            positions=ConsumerPosition,
            applier=lambda session, events, dead_letter, result: apply_events(
                session, events, policy=policy, dead_letter=dead_letter, result=result
            ),
            codec=codec,
            on_change=on_change,
        )

    def apply(self, records: Iterable[Any], *, topic_id: str) -> BatchResult:
        result = super().apply(records, topic_id=topic_id)
        metrics.SLA_BREACHES.inc(result.tallies["sla_breaches"])  # committed: counted once
        return result
