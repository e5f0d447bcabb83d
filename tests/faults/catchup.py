"""How long each consumer takes to catch up after a fault.

When a fault is over, the events stored until then are the mark: the relay has caught up once all of
them are published, the tracker and the notifier once each has processed all of them (their own
``processed_events`` tables). A watcher thread per fault polls the three databases until every one has
caught up or the time is up (then the figure is missing, shown as ``-``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import psycopg

from tests.faults import check

POLL_S = 0.25
GIVE_UP_S = 180.0
CONSUMERS = ("relay", "tracker", "notifier")


@dataclass
class CatchUp:
    fault: str
    lasted: float  # seconds from the fault's start to its end (a killed process or node started again)
    seconds: dict[str, float] = field(default_factory=dict)  # consumer -> seconds after the fault ended

    def line(self) -> str:
        parts = [f"{name} {self.seconds[name]:.1f} s" if name in self.seconds else f"{name} -" for name in CONSUMERS]
        return f"{self.fault:<10} (lasted {self.lasted:4.1f} s)  " + ", ".join(parts)


class CatchUpWatch:
    """Start one watcher per fault (``after``); ``results`` once ``wait`` returned."""

    def __init__(self, urls: dict[str, str]) -> None:
        self._urls = urls
        self._threads: list[threading.Thread] = []
        self.results: list[CatchUp] = []

    def after(self, fault: str, *, lasted: float) -> None:
        result = CatchUp(fault, lasted)
        self.results.append(result)
        thread = threading.Thread(target=self._watch, args=(result,), daemon=True)
        self._threads.append(thread)
        thread.start()

    def wait(self) -> list[CatchUp]:
        for thread in self._threads:
            thread.join(GIVE_UP_S + 10)
        return self.results

    def _watch(self, result: CatchUp) -> None:
        began = time.monotonic()
        with psycopg.connect(check.libpq(self._urls["referral"])) as referral:
            ids = [row[0] for row in referral.execute("SELECT event_id FROM referral_events").fetchall()]
            mark = referral.execute("SELECT coalesce(max(position), 0) FROM referral_events").fetchone()
        last = int(mark[0]) if mark else 0
        queries = {
            "relay": (
                "referral",
                "SELECT count(*) FROM referral_events WHERE position <= %s AND published_at IS NULL",
                (last,),
                0,
            ),
            "tracker": ("tracker", "SELECT count(*) FROM processed_events WHERE event_id = ANY(%s)", (ids,), len(ids)),
            "notifier": (
                "notifier",
                "SELECT count(*) FROM processed_events WHERE event_id = ANY(%s)",
                (ids,),
                len(ids),
            ),
        }
        while len(result.seconds) < len(CONSUMERS) and time.monotonic() - began < GIVE_UP_S:
            for name, (database, query, args, wanted) in queries.items():
                if name not in result.seconds and _count(self._urls[database], query, args) == wanted:
                    result.seconds[name] = time.monotonic() - began
            time.sleep(POLL_S)


def _count(url: str, query: str, args: tuple[object, ...]) -> int | None:
    try:
        with psycopg.connect(check.libpq(url), connect_timeout=2) as db:
            found = db.execute(query, args).fetchone()
    except psycopg.OperationalError:  # an outage the harness made: try again
        return None
    return int(found[0]) if found else 0
