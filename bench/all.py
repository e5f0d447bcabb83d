"""``python -m bench all [--quick]``: every benchmark in one run, each figure next to its limit and target.

Absolute rates on a shared 2-core machine are noisy; the ratios (ours / the limit measured in the same
run) are what we track. The full run takes about 15 minutes, ``--quick`` under 5. The figures go to a
JSON file (``bench-results/`` by default) and a table on stdout.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import codec, ingest, latency, notifier, replay, tracker


@dataclass(frozen=True)
class Plan:
    ingest_seconds: float
    latency_seconds: float
    tracker_events: int
    tracker_handoffs: int
    replay_events: int
    webhook_deliveries: int


QUICK = Plan(
    ingest_seconds=4,
    latency_seconds=8,
    tracker_events=20_000,
    tracker_handoffs=20_000,
    replay_events=50_000,
    webhook_deliveries=2_000,
)
FULL = Plan(
    ingest_seconds=20,
    latency_seconds=30,
    tracker_events=50_000,
    tracker_handoffs=100_000,
    replay_events=1_000_000,
    webhook_deliveries=10_000,
)


def measure(plan: Plan) -> dict[str, Any]:
    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "plan": plan.__dict__,
    }
    started = time.perf_counter()
    results["codec"] = codec.measure()
    results["ingest"] = ingest.measure(seconds=plan.ingest_seconds)
    results["latency"] = latency.measure(rate=200, seconds=plan.latency_seconds)
    results["tracker"] = tracker.measure(events=plan.tracker_events, handoffs=plan.tracker_handoffs, runs=10)
    results["replay"] = replay.measure(events=plan.replay_events)
    results["notifier"] = notifier.measure(deliveries=plan.webhook_deliveries)
    results["seconds"] = round(time.perf_counter() - started)
    return results


def rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, bool]]:
    """(figure, measured, limit in the same run, target, met) for every target of issue #8."""
    c, i, lat, t, rp = r["codec"], r["ingest"], r["latency"], r["tracker"], r["replay"]
    sqlite, bare = i["sqlite"], i["bare_fastapi"]
    return [
        (
            "codec encode",
            f"{c['encode_per_s']:,.0f}/s",
            f"bare fastavro {c['bare_fastavro_encode_per_s']:,.0f}/s ({c['encode_ratio']:.0%})",
            ">= 80%",
            c["encode_ratio"] >= 0.8,
        ),
        (
            "codec decode",
            f"{c['decode_per_s']:,.0f}/s",
            f"bare fastavro {c['bare_fastavro_decode_per_s']:,.0f}/s ({c['decode_ratio']:.0%})",
            ">= 80%",
            c["decode_ratio"] >= 0.8,
        ),
        (
            "ingest, SQLite",
            f"{sqlite['per_s']:,.0f}/s, p99 {sqlite['p99_ms']:.0f} ms",
            f"bare FastAPI {bare['per_s']:,.0f}/s ({sqlite['ratio_to_bare']:.0%})",
            ">= 1,000/s, p99 <= 50 ms, >= 35%",
            sqlite["per_s"] >= 1000 and sqlite["p99_ms"] <= 50 and sqlite["ratio_to_bare"] >= 0.35,
        ),
        (
            "ingest, PostgreSQL",
            f"{i['postgresql']['per_s']:,.0f}/s, p99 {i['postgresql']['p99_ms']:.0f} ms",
            f"bare FastAPI ({i['postgresql']['ratio_to_bare']:.0%})",
            "-",
            True,
        ),
        (
            "handoff latency at 200/s offered",
            f"p50 {lat['p50_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms",
            f"{lat['achieved_per_s']:.0f}/s answered",
            "p99 <= 500 ms",
            lat["p99_ms"] <= 500 and not lat["not_visible"],
        ),
        (
            "tracker apply, SQLite",
            f"{t['sqlite_apply_per_s']:,.0f}/s",
            f"raw consume+decode {t['sqlite_raw_consume_decode_per_s']:,.0f}/s "
            f"({t['sqlite_apply_per_s'] / t['sqlite_raw_consume_decode_per_s']:.0%})",
            ">= 5,000/s",
            t["sqlite_apply_per_s"] >= 5000,
        ),
        (
            "tracker apply, PostgreSQL",
            f"{t['postgresql_apply_per_s']:,.0f}/s",
            f"raw consume+decode {t['postgresql_raw_consume_decode_per_s']:,.0f}/s",
            "-",
            True,
        ),
        (
            f"replay verify-only, {rp['events']:,} events",
            f"{rp['verify_per_s']:,.0f}/s",
            f"raw consume+decode {rp['raw_consume_decode_per_s']:,.0f}/s ({rp['verify_ratio_to_raw']:.0%})",
            ">= 50,000/s, >= 50%",
            rp["verify_per_s"] >= 50_000 and rp["verify_ratio_to_raw"] >= 0.5,
        ),
        (
            "replay verify+rebuild",
            f"{rp['verify_rebuild_per_s']:,.0f}/s",
            f"raw consume+decode ({rp['verify_rebuild_ratio_to_raw']:.0%})",
            ">= 20,000/s, >= 50%",
            rp["verify_rebuild_per_s"] >= 20_000 and rp["verify_rebuild_ratio_to_raw"] >= 0.5,
        ),
        (
            "webhook deliveries, SQLite",
            f"{r['notifier']['per_s']:,.0f}/s",
            f"{r['notifier']['workers']} workers, fast local receiver",
            "-",
            r["notifier"]["delivered"] == r["notifier"]["deliveries"],
        ),
    ]


def table(r: dict[str, Any]) -> str:
    lines = [
        f"Rujukan benchmarks, {r['when']}, {r['machine']}, {r['seconds']} s",
        "| figure | measured | limit in the same run | target | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {f} | {m} | {lim} | {tgt} | {'yes' if ok else 'NO'} |" for f, m, lim, tgt, ok in rows(r)]
    return "\n".join(lines)


def run(*, quick: bool, out: Path) -> str:
    results = measure(QUICK if quick else FULL)
    out.mkdir(parents=True, exist_ok=True)
    name = f"{'quick' if quick else 'full'}-{results['when'].replace(':', '')}.json"
    (out / name).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return f"{table(results)}\n(figures in {out / name})"
