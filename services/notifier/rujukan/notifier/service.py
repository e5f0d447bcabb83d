"""The notifier's moving parts, started together: two consumers (referral events, SLA breaches), the
dispatcher, and the publisher of failed deliveries to the dead-letter topic. Each runs on its own thread
until ``stop`` is set."""

from __future__ import annotations

import threading
from collections.abc import Callable

from rujukan.core.codec import EventCodec
from rujukan.core.db import Database
from rujukan.core.kafka.chain_consumer import ChainConsumer
from rujukan.core.kafka.outbox import OutboxPublisher
from rujukan.notifier.dispatch import Clock, Dispatcher, FailedDeliveries, utc_now
from rujukan.notifier.intake import route_events
from rujukan.notifier.models import ConsumerPosition
from rujukan.notifier.settings import NotifierSettings

CONSUMER = "notifier-v1"
SLA_CONSUMER = "notifier-sla-v1"


def consumers(
    db: Database,
    settings: NotifierSettings,
    *,
    clock: Clock = utc_now,
    on_change: Callable[[list[str]], None] | None = None,
    codec: EventCodec | None = None,
) -> list[ChainConsumer]:
    """The consumer of the referral events and the consumer of the SLA breaches."""
    applier = lambda session, events, dead_letter, result: route_events(  # noqa: E731
        session, events, dead_letter, result, clock=clock
    )
    common = {"positions": ConsumerPosition, "applier": applier, "codec": codec, "on_change": on_change}
    return [
        ChainConsumer(db, settings, name=CONSUMER, group_id=settings.notifier_group_id, **common),  # type: ignore[arg-type]
        ChainConsumer(
            db,
            settings,
            name=SLA_CONSUMER,
            group_id=f"{settings.notifier_group_id}-sla",
            topic=settings.topics.sla_events,
            event_types=frozenset({"SlaBreached"}),
            **common,  # type: ignore[arg-type]
        ),
    ]


class Notifier:
    def __init__(self, db: Database, settings: NotifierSettings, *, clock: Clock = utc_now) -> None:
        self.dispatcher = Dispatcher(db, settings, clock=clock)
        self.consumers = consumers(db, settings, clock=clock, on_change=self.dispatcher.wake)
        self.dead_letters = OutboxPublisher(
            settings,
            FailedDeliveries(db, settings.topics.dead_letter, consumer=CONSUMER),
            topic=settings.topics.dead_letter,
            name="notifier-dlq",
        )

    def threads(self, stop: threading.Event) -> list[threading.Thread]:
        """Started threads running every part until ``stop`` is set."""
        targets = [c.run for c in self.consumers] + [self.dispatcher.run, self.dead_letters.run]
        names = ["notifier-consumer", "notifier-sla-consumer", "notifier-dispatcher", "notifier-dlq"]
        threads = [
            threading.Thread(target=t, args=(stop,), name=n, daemon=True) for t, n in zip(targets, names, strict=True)
        ]
        for thread in threads:
            thread.start()
        return threads
