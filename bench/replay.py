"""Audit replay: events/s for verify-only and verify+rebuild, next to raw consume+decode of the same topic.

N events in journeys of 1-5 events, correctly chained (seq and prev_hash as the referral service writes
them), are published to a fresh topic on the embedded broker. Then, in the same run and on the same topic:
1. raw: the replay's reader (a kafka-python consumer, no group) and the codec's decode, nothing else;
2. verify-only: ``replay`` with no option;
3. verify+rebuild: ``replay`` rebuilding the tracker projection into an in-memory SQLite database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from bench.tracker import bench_settings, journey_events, publish, raw_rate
from rujukan.audit.replay import ReplayOptions, replay
from rujukan.core.broker import EmbeddedBroker
from rujukan.core.codec import EventCodec

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


def measure(events: int = 100_000) -> dict[str, Any]:
    with EmbeddedBroker() as broker:
        settings = bench_settings(broker.bootstrap)
        published = publish(settings, chained(events, EventCodec()), total=events)
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
