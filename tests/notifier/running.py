"""Running the whole notifier (consumers, dispatcher, dead-letter publisher) on threads for a test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rujukan.core.clock import Clock, utc_now
from rujukan.core.db import Database
from rujukan.notifier.service import Notifier
from rujukan.notifier.settings import NotifierSettings


@contextmanager
def running(db: Database, settings: NotifierSettings, *, clock: Clock = utc_now) -> Iterator[Notifier]:
    notifier = Notifier(db, settings, clock=clock)
    stop = threading.Event()
    threads = notifier.threads(stop)
    try:
        yield notifier
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
