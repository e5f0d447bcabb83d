"""Tracker: events/s the consumer applies (through the real broker), and query latency at 100,000 referrals.

1. Apply rate: N generated journey events are published to a fresh topic on the embedded broker; a
   TrackerConsumer reads and applies them; the rate is the steady one, from the first applied batch
   (after the consumer group join, about a second) to the last; next to it, the raw kafka-python
   consume+decode rate of the same topic.
2. Queries: 100,000 handoff rows are bulk-loaded, then the handoffs list (first page, overdue first),
   a filtered list, and the funnel are each timed over repeated calls; p50 and p95 are reported.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from rich.progress import Progress
from sqlalchemy import func, insert, select
from sqlmodel import col

from bench.ingest import database
from rujukan.audit.reader import read_topic
from rujukan.core.broker import EmbeddedBroker
from rujukan.core.codec import EventCodec
from rujukan.core.db import Database, make_engine
from rujukan.core.kafka.clients import make_producer
from rujukan.core.kafka.topics import ensure_topics, make_admin
from rujukan.core.settings import KafkaTopics
from rujukan.tracker.consumer import TrackerConsumer
from rujukan.tracker.migrate import upgrade
from rujukan.tracker.models import HandoffRow, ProcessedEvent
from rujukan.tracker.queries import HandoffFilter, funnel_rows, list_handoffs
from rujukan.tracker.settings import TrackerSettings
from rujukan.tracker.stats import funnel

AGENCIES = [
    "LAPAS-CIPINANG",
    "BAPAS-JAKTIM",
    "POLRES-JAKTIM-PPA",
    "UPTD-PPA-DKI",
    "RSUD-KRAMATJATI",
    "KEMENSOS-HANDAYANI",
    "LBH-APIK",
    "YAYASAN-PULIH",
]
STEPS = ["ReferralAcknowledged", "ReferralAccepted", "ReferralStarted", "ReferralCompleted"]


def journey_events(count: int) -> list[dict[str, Any]]:
    """``count`` events in journeys of 1-5 events (created, then some of the steps)."""
    rng = random.Random(7)  # noqa: S311 - benchmark data, not security
    events: list[dict[str, Any]] = []
    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    while len(events) < count:
        referral_id, case_id = uuid.uuid4(), uuid.uuid4()
        sender, receiver = rng.sample(AGENCIES, 2)
        at = start + dt.timedelta(minutes=rng.randrange(60 * 24 * 30))
        common = {"referral_id": referral_id, "case_id": case_id}
        events.append(
            {
                **common,
                "event_id": uuid.uuid4(),
                "event_type": "ReferralCreated",
                "occurred_at": at,
                "seq": 1,
                "prev_hash": None,
                "actor_agency": sender,
                "from_agency": sender,
                "to_agency": receiver,
                "service_type": "counselling",
                "urgency": "urgent",
                "parent_referral_id": None,
                "subject_id": f"sub_{uuid.uuid4().hex[:20]}",
                "subject_category": "violence_victim_woman",
                "subject_sex": "female",
                "subject_age_band": "age_25_44",
                "subject_region_code": "31.75",
                "legal_basis": "vital_interest",
                "consent": None,
                "sealed_subject": b"\x01" * 200,
                "sealed_reason": b"\x01" * 300,
            }
        )
        for seq, step in enumerate(STEPS[: rng.randrange(5)], start=2):
            at += dt.timedelta(hours=rng.randrange(1, 48))
            payload: dict[str, Any] = {"sealed_note": None}
            if step == "ReferralCompleted":
                payload["outcome"] = "goals_met"
            events.append(
                {
                    **common,
                    "event_id": uuid.uuid4(),
                    "event_type": step,
                    "occurred_at": at,
                    "seq": seq,
                    "prev_hash": b"\x00" * 32,
                    "actor_agency": receiver,
                    **payload,
                }
            )
    return _whole(events, count)


def _whole(events: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """Cut at the first journey boundary at or after ``count`` so no journey is half published."""
    end = count
    while end < len(events) and events[end]["seq"] != 1:
        end += 1
    return events[:end]


def bench_settings(bootstrap: str, **values: Any) -> TrackerSettings:
    """Settings with topics (3 partitions) and a consumer group of this run only."""
    prefix = f"bench.{uuid.uuid4().hex[:10]}"
    return TrackerSettings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap=bootstrap,
        tracker_group_id=f"{prefix}.g",
        topics=KafkaTopics(
            referral_events=f"{prefix}.events",
            sla_events=f"{prefix}.sla",
            dead_letter=f"{prefix}.dlq",
            audit_events=f"{prefix}.audit",
            audit_checkpoints=f"{prefix}.checkpoints",
            partitions=3,
        ),
        **values,
    )


def publish(
    settings: TrackerSettings,
    messages: Iterable[tuple[bytes, bytes]],
    *,
    total: int,
    headers_of: Callable[[int, bytes], list[tuple[str, bytes]]] | None = None,
) -> int:
    """Send (key, value) pairs to the referral topic with a bulk producer and a progress bar, each with the
    headers ``headers_of(index, value)`` gives (as the relay's); how many."""
    admin = make_admin(settings)
    ensure_topics(admin, settings)
    admin.close()
    producer = make_producer(settings, name="bench", bulk=True)
    sent = 0
    with Progress(transient=True) as bar:
        task = bar.add_task("publishing", total=total)
        for key, value in messages:
            headers = headers_of(sent, value) if headers_of is not None else None
            producer.send(settings.topics.referral_events, key=key, value=value, headers=headers)
            sent += 1
            if sent % 5_000 == 0:
                bar.update(task, completed=sent)
    producer.flush(120)
    producer.close()
    return sent


def apply_rate(backend: str, broker: EmbeddedBroker, events: list[dict[str, Any]]) -> tuple[float, float]:
    """(events/s the tracker consumer applies, events/s of raw consume+decode of the same topic)."""
    codec = EventCodec()
    encoded = [(str(e["referral_id"]).encode(), codec.encode(e)) for e in events]
    with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
        settings = bench_settings(broker.bootstrap, data_dir=Path(tmp), tracker_database_url=url)
        publish(settings, encoded, total=len(encoded))
        db = Database(make_engine(url))
        upgrade(db.engine)
        consumer = TrackerConsumer(db, settings)
        stop = threading.Event()
        thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
        thread.start()
        deadline = time.perf_counter() + 600
        # Steady state: from the first applied batch (after the group join) to the last.
        while (first := _processed(db)) == 0 and time.perf_counter() < deadline:
            time.sleep(0.01)
        start = time.perf_counter()
        while (applied := _processed(db)) < len(events) and time.perf_counter() < deadline:
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        stop.set()
        thread.join(30)
        db.engine.dispose()
        _, raw = raw_rate(settings)
    if applied < len(events):
        raise SystemExit(f"the tracker applied {applied} of {len(events)} events in {elapsed:.0f} s: no rate to report")
    return (applied - first) / elapsed, raw


def raw_rate(settings: TrackerSettings) -> tuple[int, float]:
    codec = EventCodec()
    start, read = time.perf_counter(), 0
    for batch in read_topic(settings, settings.topics.referral_events):
        for message in batch:
            codec.decode(message.value)
        read += len(batch)
    return read, read / (time.perf_counter() - start)


def _processed(db: Database) -> int:
    """Events the consumer applied (a dead-lettered one is not counted)."""
    query = select(func.count()).select_from(ProcessedEvent).where(col(ProcessedEvent.outcome) == "applied")
    with db.read() as session:
        return int(session.execute(query).scalar_one())


def load_handoffs(db: Database, count: int) -> None:
    rng = random.Random(11)  # noqa: S311 - benchmark data
    now = dt.datetime.now(dt.UTC)
    statuses = ["requested", "received", "accepted", "in_progress", "completed", "rejected", "forwarded"]
    rows = []
    for _ in range(count):
        created = now - dt.timedelta(hours=rng.randrange(1, 24 * 365))
        status = rng.choice(statuses)
        answered = created + dt.timedelta(hours=rng.randrange(1, 96)) if status != "requested" else None
        sender, receiver = rng.sample(AGENCIES, 2)
        rows.append(
            {
                "referral_id": str(uuid.uuid4()),
                "case_id": str(uuid.uuid4()),
                "parent_referral_id": None,
                "from_agency": sender,
                "to_agency": receiver,
                "service_type": "counselling",
                "urgency": rng.choice(["routine", "urgent", "emergency"]),
                "status": status,
                "subject_id": f"sub_{uuid.uuid4().hex[:20]}",
                "subject_category": rng.choice(["violence_victim_woman", "ex_inmate", "violence_victim_child"]),
                "subject_sex": "female",
                "subject_age_band": "age_25_44",
                "region_code": rng.choice(["31.71", "31.72", "31.73", "31.74", "31.75", "32.73"]),
                "created_at": created,
                "updated_at": answered or created,
                "last_seq": 1 if not answered else 2,
                "acknowledged_at": answered,
                "accepted_at": answered if status in ("accepted", "in_progress", "completed") else None,
                "rejected_at": answered if status == "rejected" else None,
                "started_at": None,
                "completed_at": answered + dt.timedelta(days=3) if answered and status == "completed" else None,
                "closed_at": answered if status in ("completed", "rejected", "forwarded") else None,
                "subject_erased": False,
                "ack_due_at": created + dt.timedelta(hours=24),
                "respond_due_at": created + dt.timedelta(hours=72),
                "ack_stopped_at": answered,
                "respond_stopped_at": answered if status != "received" else None,
            }
        )
    table = HandoffRow.__table__  # type: ignore[attr-defined]
    with db.transaction() as session:
        for chunk in range(0, len(rows), 5000):
            session.execute(insert(table), rows[chunk : chunk + 5000])


def funnel_of(db: Database) -> object:
    return funnel(funnel_rows(db))


def timed(operation: Callable[[], object], *, runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        operation()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"p50_ms": statistics.median(samples), "p95_ms": samples[max(0, math.ceil(0.95 * len(samples)) - 1)]}


@contextlib.contextmanager
def loaded(backend: str, count: int) -> Iterator[Database]:
    with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
        db = Database(make_engine(url))
        upgrade(db.engine)
        load_handoffs(db, count)
        try:
            yield db
        finally:
            db.engine.dispose()


def measure(
    *,
    events: int = 20_000,
    handoffs: int = 100_000,
    runs: int = 20,
    backends: tuple[str, ...] = ("sqlite", "postgresql"),
) -> dict[str, Any]:
    generated = journey_events(events)
    results: dict[str, Any] = {"events": len(generated), "handoffs": handoffs}
    with EmbeddedBroker() as broker:
        for backend in backends:
            applied, raw = apply_rate(backend, broker, generated)
            results[f"{backend}_apply_per_s"], results[f"{backend}_raw_consume_decode_per_s"] = applied, raw
    for backend in backends:
        with loaded(backend, handoffs) as db:
            now = dt.datetime.now(dt.UTC)
            results[f"{backend}_list"] = timed(partial(list_handoffs, db, filters=HandoffFilter(), now=now), runs=runs)
            results[f"{backend}_list_filtered"] = timed(
                partial(
                    list_handoffs,
                    db,
                    filters=HandoffFilter(to_agency="BAPAS-JAKTIM", region="31", overdue=True),
                    now=now,
                ),
                runs=runs,
            )
            results[f"{backend}_funnel"] = timed(partial(funnel_of, db), runs=max(3, runs // 4))
    return results


def report(r: dict[str, Any]) -> str:
    lines = [f"tracker: {r['events']} events applied through the broker; queries over {r['handoffs']:,} handoffs"]
    for backend in ("sqlite", "postgresql"):
        if f"{backend}_apply_per_s" not in r:
            continue
        applied, raw = r[f"{backend}_apply_per_s"], r[f"{backend}_raw_consume_decode_per_s"]
        lines.append(
            f"  {backend:<11} apply {applied:>8,.0f} events/s   raw consume+decode {raw:>8,.0f}/s"
            f"   ({applied / raw:.0%})"
        )
        for name in ("list", "list_filtered", "funnel"):
            q = r[f"{backend}_{name}"]
            lines.append(f"  {backend:<11} {name:<14} p50 {q['p50_ms']:8.1f} ms   p95 {q['p95_ms']:8.1f} ms")
    return "\n".join(lines)
