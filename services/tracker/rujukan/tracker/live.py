"""Live changes for ``/v1/stream``: the consumer thread publishes (or, when the consumer runs in another
process, the change feed's follower: :mod:`rujukan.tracker.changes`), each SSE client gets its own queue."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

QUEUE_SIZE = 100


class ChangeHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[list[str]]]] = set()

    def publish(self, referral_ids: list[str]) -> None:
        """Called from any thread; a slow subscriber loses changes rather than blocking the consumer."""
        with self._lock:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            loop.call_soon_threadsafe(_offer, queue, list(referral_ids))

    def has_subscribers(self) -> bool:
        with self._lock:
            return bool(self._subscribers)

    async def subscribe(self, *, heartbeat_s: float) -> AsyncIterator[list[str]]:
        """Yields changed referral ids; an empty list is a heartbeat."""
        queue: asyncio.Queue[list[str]] = asyncio.Queue(QUEUE_SIZE)
        entry = (asyncio.get_running_loop(), queue)
        with self._lock:
            self._subscribers.add(entry)
        try:
            while True:
                try:
                    yield await asyncio.wait_for(queue.get(), heartbeat_s)
                except TimeoutError:
                    yield []
        finally:
            with self._lock:
                self._subscribers.discard(entry)


def _offer(queue: asyncio.Queue[list[str]], ids: list[str]) -> None:
    if not queue.full():
        queue.put_nowait(ids)
