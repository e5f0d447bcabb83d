"""Audit replay: events/s for verify-only and verify+rebuild, next to raw consume+decode of the same topic.

N events in journeys of 1-5 events, correctly chained (seq and prev_hash as the referral service writes
them), are published to a fresh topic on the embedded broker. Then, in the same run and on the same topic:
1. raw: the replay's reader (a kafka-python consumer, no group) and the codec's decode, nothing else;
2. verify-only: ``replay`` with no option;
3. verify+rebuild: ``replay`` rebuilding the tracker projection into an in-memory SQLite database.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.progress import Progress

from bench.tracker import journey_events, raw_rate
from rujukan.audit.replay import ReplayOptions, replay
from rujukan.core.broker import EmbeddedBroker
from rujukan.core.codec import EventCodec
from rujukan.core.kafka.clients import make_producer
from rujukan.core.kafka.topics import ensure_topics, make_admin
from rujukan.core.settings import KafkaTopics
from rujukan.tracker.settings import TrackerSettings

CHUNK = 10_000


def chained(count: int, codec: EventCodec) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of ``count`` events (cut at a journey boundary), each linked to its predecessor."""
    produced = 0
    while produced < count:
        last_hash: bytes | None = None
        for event in journey_events(min(CHUNK, count - produced)):
            event["prev_hash"] = None if event["seq"] == 1 else last_hash
            value = codec.encode(event)
            last_hash = hashlib.sha256(value).digest()
            produced += 1
            yield str(event["referral_id"]).encode(), value


def publish(settings: TrackerSettings, count: int) -> int:
    admin = make_admin(settings)
    ensure_topics(admin, settings)
    admin.close()
    producer = make_producer(settings, name="bench-replay", bulk=True)
    sent = 0
    with Progress(transient=True) as bar:
        task = bar.add_task("publishing", total=count)
        for key, value in chained(count, EventCodec()):
            producer.send(settings.topics.referral_events, key=key, value=value)
            sent += 1
            if sent % 5_000 == 0:
                bar.update(task, completed=sent)
    producer.flush(120)
    producer.close()
    return sent


def measure(events: int = 100_000) -> dict[str, Any]:
    prefix = f"bench.{uuid.uuid4().hex[:10]}"
    with EmbeddedBroker(log_path=Path(f"/tmp/{prefix}.broker.log")) as broker:  # noqa: S108 - a benchmark's log
        settings = TrackerSettings(
            _env_file=None,  # type: ignore[call-arg]
            kafka_bootstrap=broker.bootstrap,
            topics=KafkaTopics(
                referral_events=f"{prefix}.events",
                sla_events=f"{prefix}.sla",
                dead_letter=f"{prefix}.dlq",
                audit_events=f"{prefix}.audit",
                partitions=3,
            ),
        )
        published = publish(settings, events)
        read, raw = raw_rate(settings)
        policy = settings.sla_policy()
        verify = replay(settings, ReplayOptions(), policy=policy)
        rebuild = replay(settings, ReplayOptions(rebuild_url="sqlite://"), policy=policy)
    for report in (verify, rebuild):
        if not report.clean or report.counts["events"] != published:
            raise SystemExit(f"replay of the generated log was not clean: {report.as_dict()['counts']}")
    verify_rate = verify.counts["events"] / verify.seconds
    rebuild_rate = rebuild.counts["events"] / rebuild.seconds
    return {
        "events": published,
        "read": read,
        "raw_consume_decode_per_s": round(raw),
        "verify_per_s": round(verify_rate),
        "verify_rebuild_per_s": round(rebuild_rate),
        "verify_ratio_to_raw": round(verify_rate / raw, 3),
        "verify_rebuild_ratio_to_raw": round(rebuild_rate / raw, 3),
    }


def report(results: dict[str, Any]) -> str:
    raw = results["raw_consume_decode_per_s"]
    return "\n".join(
        [
            f"audit replay over {results['events']:,} events (one process, embedded broker on the same machine)",
            f"  raw consume+decode     {raw:>9,}/s",
            f"  verify-only            {results['verify_per_s']:>9,}/s  "
            f"({results['verify_ratio_to_raw']:.0%} of raw; target 50,000/s and >= 50%)",
            f"  verify+rebuild         {results['verify_rebuild_per_s']:>9,}/s  "
            f"({results['verify_rebuild_ratio_to_raw']:.0%} of raw; target 20,000/s and >= 50%)",
        ]
    )
