"""The tracker's background loops, under one supervisor: the consumer (the projection), the SLA sweep, the
publisher of SLA breaches, housekeeping (the change feed's old rows) and the directory's follower (the
coordinators' capacity view)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from rujukan.core import metrics
from rujukan.core.db import Database
from rujukan.core.lease import once
from rujukan.core.loops import Periodic, Supervisor
from rujukan.tracker.breaches import BreachPublisher, sweep
from rujukan.tracker.changes import prune
from rujukan.tracker.consumer import TrackerConsumer
from rujukan.tracker.directory import DirectoryConsumer
from rujukan.tracker.settings import TrackerSettings

SWEEP_S = 10.0
HOUSEKEEPING_S = 60.0  # the change feed keeps an hour
CONSUMER_LOOP = "tracker-consumer"
DIRECTORY_LOOP = "tracker-directory"


def sla_sweep(db: Database, settings: TrackerSettings, consumer: TrackerConsumer) -> Periodic:
    """Every ``SWEEP_S`` seconds, records the breaches of clocks that ran past due without any event, while
    the consumer is caught up with the log (judging a lagging projection by the wall clock would invent
    breaches)."""
    policy = settings.sla_policy()

    def swept() -> int:
        found = sweep(db, policy, now=dt.datetime.now(dt.UTC))
        metrics.SLA_BREACHES.inc(found)
        return found

    return Periodic(swept, interval_s=SWEEP_S, at_start=False, ready=consumer.caught_up.is_set, idle_s=0.5)


def tracker_loops(
    db: Database, settings: TrackerSettings, *, on_change: Callable[[list[str]], None] | None = None
) -> Supervisor:
    """The consumer, the sweep and the breach publisher under one supervisor, not started. Any number of
    trackers may share a database: each consumes (applying an event once, by its id), while the sweep
    and the breach publisher run in one of them at a time, under a lease."""
    consumer = TrackerConsumer(db, settings, on_change=on_change)
    tidying = Periodic(lambda: prune(db, dt.datetime.now(dt.UTC)), interval_s=HOUSEKEEPING_S, idle_s=1.0)
    return (
        Supervisor()
        .add(CONSUMER_LOOP, consumer)
        .add(DIRECTORY_LOOP, DirectoryConsumer(db, settings))
        .add("sla-sweep", once(db.engine, "sla-sweep", sla_sweep(db, settings, consumer)))
        .add("sla-publisher", once(db.engine, "sla-publisher", BreachPublisher(db, settings)))
        .add("tracker-housekeeping", once(db.engine, "tracker-housekeeping", tidying))
    )
