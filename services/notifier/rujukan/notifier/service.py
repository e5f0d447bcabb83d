"""The notifier's moving parts, started together under one loop supervisor: two consumers (referral
events, SLA breaches), the dispatcher, and the publisher of failed deliveries to the dead-letter topic."""

from __future__ import annotations

import threading
from collections.abc import Callable

from rujukan.core.clock import Clock, utc_now
from rujukan.core.codec import EventCodec
from rujukan.core.db import Database
from rujukan.core.kafka.chain_consumer import ChainConsumer
from rujukan.core.kafka.outbox import OutboxPublisher
from rujukan.core.lease import once
from rujukan.core.loops import Supervisor
from rujukan.notifier.dead_letters import FailedDeliveries
from rujukan.notifier.dispatch import Dispatcher
from rujukan.notifier.intake import route_events
from rujukan.notifier.models import ConsumerPosition
from rujukan.notifier.secretbox import secret_housekeeping
from rujukan.notifier.settings import NotifierSettings

CONSUMER = "notifier-v1"
SLA_CONSUMER = "notifier-sla-v1"
CONSUMER_LOOPS = ("notifier-consumer", "notifier-sla-consumer")


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
        self._db, self._settings = db, settings
        self.dispatcher = Dispatcher(db, settings, clock=clock)
        self.consumers = consumers(db, settings, clock=clock, on_change=self.dispatcher.wake)
        self.dead_letters = OutboxPublisher(
            settings,
            FailedDeliveries(db, settings.topics.dead_letter, consumer=CONSUMER),
            topic=settings.topics.dead_letter,
            name="notifier-dlq",
        )

    def supervisor(self) -> Supervisor:
        """Every part under one supervisor, not started yet."""
        supervisor = Supervisor()
        for name, consumer in zip(CONSUMER_LOOPS, self.consumers, strict=True):
            supervisor.add(name, consumer)
        engine = self._db.engine  # the consumers run in every instance; what follows in one at a time
        supervisor.add("notifier-dispatcher", once(engine, "notifier-dispatcher", self.dispatcher))
        supervisor.add("notifier-dlq", once(engine, "notifier-dlq", self.dead_letters))
        secrets = secret_housekeeping(self._db, self._settings.secret_box())
        return supervisor.add("notifier-secrets", once(engine, "notifier-secrets", secrets))

    def threads(self, stop: threading.Event) -> list[threading.Thread]:
        """Every part running (under a supervisor) until ``stop`` is set; the thread that waits for it."""
        thread = threading.Thread(target=_supervise_until, args=(self.supervisor(), stop), name="notifier")
        thread.start()
        return [thread]


def _supervise_until(supervisor: Supervisor, stop: threading.Event) -> None:
    supervisor.start()
    stop.wait()
    supervisor.stop()
