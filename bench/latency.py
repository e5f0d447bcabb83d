"""Handoff latency: from the 201 of a create to the referral being visible in the tracker, at a fixed rate.

The referral service runs as ``rujukan referral serve`` (relay in process, SQLite) on the embedded
broker; the tracker consumer runs in this process on its own SQLite database and notes the wall time at
which each referral's handoff is committed; an open-loop load generator process offers a fixed number
of creates per second and records the wall time of each 201. Latency = visible - answered.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.ingest import load, prepare, server
from bench.loadgen import percentile
from rujukan.core.broker import EmbeddedBroker
from rujukan.core.db import Database, make_engine
from rujukan.core.settings import KafkaTopics
from rujukan.tracker.consumer import TrackerConsumer
from rujukan.tracker.migrate import upgrade
from rujukan.tracker.settings import TrackerSettings

SETTLE_S = 30.0  # how long after the load the tracker may take to show the last referrals


def measure(*, rate: float = 200, seconds: float = 30) -> dict[str, Any]:
    key = os.urandom(32)
    seen: dict[str, float] = {}

    def visible(referral_ids: list[str]) -> None:
        now = time.time()
        for referral_id in referral_ids:
            seen.setdefault(referral_id, now)

    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        url = f"sqlite:///{directory / 'referral.db'}"
        token = prepare(url, key)
        settings = TrackerSettings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=directory,
            tracker_database_url=f"sqlite:///{directory / 'tracker.db'}",
            kafka_bootstrap=broker.bootstrap,
            tracker_group_id=f"bench.{uuid.uuid4().hex[:8]}",
            topics=KafkaTopics(),
        )
        db = Database(make_engine(settings.database_url()))
        upgrade(db.engine)
        stop = threading.Event()
        consumer = TrackerConsumer(db, settings, on_change=visible)
        thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
        with server(url, key, broker.bootstrap, directory) as base:
            thread.start()
            # Warm-up at the same rate; measuring starts once the consumer has joined and shown all of it.
            warm = load(base, token, concurrency=64, seconds=3, rate=rate)
            warmed = {referral_id for referral_id, _ in warm["created"]}
            _wait_until(lambda: bool(warmed) and warmed <= seen.keys())
            result = load(base, token, concurrency=64, seconds=seconds, rate=rate)
            created = {referral_id: answered for referral_id, answered in result["created"]}
            _wait_until(lambda: created.keys() <= seen.keys())
        stop.set()
        thread.join(30)
        db.engine.dispose()
    latencies = sorted((seen[r] - t) * 1000 for r, t in created.items() if r in seen)

    def pct(p: float) -> float:
        return percentile(latencies, p, empty=float("nan"))

    return {
        "offered_per_s": rate,
        "achieved_per_s": result["per_s"],
        "created": len(created),
        "skipped": result["skipped"],
        "not_visible": len(created.keys() - seen.keys()),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] if latencies else float("nan"),
        "create_p99_ms": result["p99_ms"],
    }


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline and not condition():
        time.sleep(0.05)


def report(r: dict[str, Any]) -> str:
    return (
        f"handoff latency (201 -> visible in the tracker), {r['offered_per_s']:.0f} creates/s offered, "
        f"{r['achieved_per_s']:.0f}/s answered:\n"
        f"  p50 {r['p50_ms']:7.1f} ms   p99 {r['p99_ms']:7.1f} ms   max {r['max_ms']:7.1f} ms   "
        f"({r['created']} created, {r['not_visible']} not visible after {SETTLE_S:.0f} s, "
        f"{r['skipped']} not offered because 64 were in flight; target p99 <= 500 ms at 200/s)"
    )
