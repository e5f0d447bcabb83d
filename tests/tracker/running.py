"""Running the tracker consumer in a thread for a test, and waiting for what it should have done."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rujukan.core.db import Database
from rujukan.core.kafka.chain_consumer import ChainConsumer
from rujukan.tracker.consumer import TrackerConsumer
from rujukan.tracker.settings import TrackerSettings


@contextmanager
def running(
    db: Database,
    settings: TrackerSettings,
    *,
    kind: Callable[[Database, TrackerSettings], ChainConsumer] = TrackerConsumer,
) -> Iterator[ChainConsumer]:
    """A consumer (the tracker's, or ``kind``) running in a thread until the block ends."""
    consumer = kind(db, settings)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield consumer
    finally:
        stop.set()
        thread.join(30)


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")
