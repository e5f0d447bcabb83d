"""Audit replay: events/s for verify-only and verify+rebuild, next to raw consume+decode of the same topic.

N events in journeys of 1-5 events, correctly chained (seq and prev_hash as the referral service writes
them), are published to a fresh topic on the embedded broker. Then, in the same run and on the same topic:
1. raw: the replay's reader (a kafka-python consumer, no group) and the codec's decode, nothing else;
2. verify-only: ``replay`` with no option;
3. verify+rebuild: ``replay`` rebuilding the tracker projection into an in-memory SQLite database.
Then the same events again on a second topic as the relay publishes them (``log_index`` and an Ed25519
``signature`` header each) with a signed checkpoint of them all, and:
4. verify with the transparency log: ``replay`` checking every signature and the whole log against the
   saved checkpoint and the checkpoints topic (a consistency proof included).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from bench.tracker import bench_settings, journey_events, publish, raw_rate
from rujukan.audit.log_check import SignedCheckpoint
from rujukan.audit.replay import ReplayOptions, replay
from rujukan.core import tlog
from rujukan.core.broker import EmbeddedBroker
from rujukan.core.codec import EventCodec
from rujukan.core.kafka.clients import make_producer
from rujukan.core.signatures import SigningKeys
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


def signed_log(settings: TrackerSettings, events: int) -> ReplayOptions:
    """The events published as the relay does, a checkpoint of them on the checkpoints topic; the options
    of a replay that holds the log against it."""
    keys = SigningKeys.generate("bench.rujukan.local/log")
    leaves: list[bytes] = []

    def headers_of(index: int, value: bytes) -> list[tuple[str, bytes]]:
        leaves.append(tlog.leaf_hash(value))
        return [("log_index", str(index).encode()), ("signature", keys.sign_event(value))]

    publish(settings, chained(events, EventCodec()), total=events, headers_of=headers_of)
    note = tlog.Checkpoint(keys.origin, len(leaves), tlog.root_of(leaves)).sign(keys.origin, keys.log)
    producer = make_producer(settings, name="bench-checkpoints")
    producer.send(settings.topics.audit_checkpoints, key=keys.origin.encode(), value=note.encode()).get(30)
    producer.close()
    return ReplayOptions(keys=keys.public, checkpoint=SignedCheckpoint(note, "bench checkpoint"))


def measure(events: int = 100_000) -> dict[str, Any]:
    with EmbeddedBroker() as broker:
        settings = bench_settings(broker.bootstrap)
        published = publish(settings, chained(events, EventCodec()), total=events)
        read, raw = raw_rate(settings)
        policy = settings.sla_policy()
        verify = replay(settings, ReplayOptions(), policy=policy)
        rebuild = replay(settings, ReplayOptions(rebuild_url="sqlite://"), policy=policy)
        logged = bench_settings(broker.bootstrap)  # topics of its own
        with_log = replay(logged, signed_log(logged, events), policy=policy)
    for report in (verify, rebuild, with_log):
        if not report.clean or report.counts["events"] != published:
            raise SystemExit(f"replay of the generated log was not clean: {report.as_dict()['counts']}")
    if with_log.counts.get("leaves") != published or with_log.counts.get("checkpoints_checked") != 2:
        raise SystemExit(f"the transparency log was not checked: {with_log.as_dict()['counts']}")
    verify_rate = verify.counts["events"] / verify.seconds
    rebuild_rate = rebuild.counts["events"] / rebuild.seconds
    log_rate = with_log.counts["events"] / with_log.seconds
    return {
        "events": published,
        "read": read,
        "raw_consume_decode_per_s": round(raw),
        "verify_per_s": round(verify_rate),
        "verify_rebuild_per_s": round(rebuild_rate),
        "verify_with_transparency_log_per_s": round(log_rate),
        "verify_ratio_to_raw": round(verify_rate / raw, 3),
        "verify_rebuild_ratio_to_raw": round(rebuild_rate / raw, 3),
        "verify_with_transparency_log_ratio_to_raw": round(log_rate / raw, 3),
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
            f"  verify + signatures + checkpoint {results['verify_with_transparency_log_per_s']:>9,}/s  "
            f"({results['verify_with_transparency_log_ratio_to_raw']:.0%} of raw)",
        ]
    )
