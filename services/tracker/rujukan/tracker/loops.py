"""The tracker's background loops, under one supervisor: the consumer (the projection), the SLA sweep and
the publisher of SLA breaches."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from rujukan.core import metrics
from rujukan.core.db import Database
from rujukan.core.loops import Supervisor
from rujukan.tracker.breaches import BreachPublisher, sweep
from rujukan.tracker.consumer import TrackerConsumer
from rujukan.tracker.settings import TrackerSettings

SWEEP_S = 10.0
CONSUMER_LOOP = "tracker-consumer"


class SlaSweep:
    """Every ``SWEEP_S`` seconds, records the breaches of clocks that ran past due without any event, while
    the consumer is caught up with the log (judging a lagging projection by the wall clock would invent
    breaches)."""

    def __init__(self, db: Database, settings: TrackerSettings, consumer: TrackerConsumer) -> None:
        self._db = db
        self._policy = settings.sla_policy()
        self._consumer = consumer
        self._last = time.monotonic()

    def step(self) -> int:
        if time.monotonic() - self._last < SWEEP_S or not self._consumer.caught_up.is_set():
            return 0
        self._last = time.monotonic()
        found = sweep(self._db, self._policy, now=dt.datetime.now(dt.UTC))
        metrics.SLA_BREACHES.inc(found)
        return found

    def idle(self) -> None:
        time.sleep(0.5)

    def backlog(self) -> int | None:
        return None

    def close(self) -> None:
        return None


def tracker_loops(
    db: Database, settings: TrackerSettings, *, on_change: Callable[[list[str]], None] | None = None
) -> Supervisor:
    """The consumer, the sweep and the breach publisher under one supervisor, not started."""
    consumer = TrackerConsumer(db, settings, on_change=on_change)
    return (
        Supervisor()
        .add(CONSUMER_LOOP, consumer)
        .add("sla-sweep", SlaSweep(db, settings, consumer))
        .add("sla-publisher", BreachPublisher(db, settings))
    )
