"""``python -m bench all [--quick]``: every benchmark in one run, each figure next to its limit and target.

Absolute rates on a shared 2-core machine are noisy; the ratios (ours / the limit measured in the same
run) are what we track. The full run takes about 15 minutes, ``--quick`` under 5. The figures go to a
JSON file (``bench/results/`` by default, committed) and a table on stdout; ``python -m bench readme
FILE`` writes a results file's table into the README, so the table is always one run's.
"""

from __future__ import annotations

import datetime as dt
import json
import os
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
    ingest_seconds=10,
    latency_seconds=30,
    tracker_events=50_000,
    tracker_handoffs=100_000,
    replay_events=1_000_000,
    webhook_deliveries=10_000,
)


def measure(plan: Plan) -> dict[str, Any]:
    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}",
        "plan": plan.__dict__,
    }
    started = time.perf_counter()
    results["codec"] = codec.measure()
    results["ingest"] = ingest.measure(seconds=plan.ingest_seconds)
    results["latency"] = latency.measure(rate=LATENCY_RATE, seconds=plan.latency_seconds)
    results["tracker"] = tracker.measure(events=plan.tracker_events, handoffs=plan.tracker_handoffs, runs=10)
    results["replay"] = replay.measure(events=plan.replay_events)
    results["notifier"] = notifier.measure(deliveries=plan.webhook_deliveries)
    results["seconds"] = round(time.perf_counter() - started)
    return results


LATENCY_RATE = 300.0


def _clean(run: dict[str, Any]) -> bool:
    """A wrk row counts only if every answer was 2xx and no socket failed."""
    return int(run["errors"]) == 0


def rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, bool]]:
    """(figure, measured, limit in the same run, target, met) for every target of issue #18."""
    c, i, lat, t, rp, n = r["codec"], r["ingest"], r["latency"], r["tracker"], r["replay"], r["notifier"]
    bare = i["bare_fastapi_per_s"]

    def ingest_row(name: str, label: str, ratio: float, p99: float | None) -> tuple[str, str, str, str, bool]:
        run = i[name]
        target = f">= {ratio:.2f}x" + (f", p99 <= {p99:.0f} ms" if p99 is not None else "")
        met = _clean(run) and run["ratio_to_bare"] >= ratio and (p99 is None or run["p99_ms"] <= p99)
        errors = "" if _clean(run) else f", {run['errors']} errors"
        return (
            label,
            f"{run['ok_per_s']:,.0f}/s, p99 {run['p99_ms']:.0f} ms{errors}",
            f"bare FastAPI, 1 worker {bare:,.0f}/s ({run['ratio_to_bare']:.2f}x)",
            target,
            met,
        )

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
        ingest_row("up_sqlite", "creates through rujukan up, 16 connections (wrk)", 0.35, 50),
        ingest_row("service_sqlite", "creates, referral serve alone (relay in process), SQLite", 0.5, None),
        ingest_row("service_postgresql", "creates, referral serve alone, PostgreSQL", 0.25, None),
        (
            f"handoff latency (201 to the coordinator's live stream) at {lat['offered_per_s']:.0f}/s offered",
            f"p50 {lat['handoff_p50_ms']:.0f} ms, p99 {lat['handoff_p99_ms']:.0f} ms",
            f"201s at {lat['answered_per_s']:.0f}/s, {lat['dropped']} dropped, create p99 from due "
            f"{lat['create_p99_ms_from_due']:.0f} ms",
            "p99 <= 250 ms, none dropped, 201s at >= 98% of the rate",
            lat["load_honoured"] and lat["not_visible"] == 0 and lat["handoff_p99_ms"] <= 250,
        ),
        (
            "tracker apply, SQLite (steady, through the broker)",
            f"{t['sqlite_apply_per_s']:,.0f}/s",
            f"raw consume+decode {t['sqlite_raw_consume_decode_per_s']:,.0f}/s "
            f"({t['sqlite_apply_per_s'] / t['sqlite_raw_consume_decode_per_s']:.0%})",
            ">= 5,000/s",
            t["sqlite_apply_per_s"] >= 5000,
        ),
        (
            f"replay verify-only, {rp['events']:,} events",
            f"{rp['verify_per_s']:,.0f}/s",
            f"raw consume+decode {rp['raw_consume_decode_per_s']:,.0f}/s ({rp['verify_ratio_to_raw']:.0%})",
            ">= 50,000/s",
            rp["verify_per_s"] >= 50_000,
        ),
        (
            "replay verify+rebuild (in-memory SQLite)",
            f"{rp['verify_rebuild_per_s']:,.0f}/s",
            f"raw consume+decode ({rp['verify_rebuild_ratio_to_raw']:.0%})",
            ">= 20,000/s",
            rp["verify_rebuild_per_s"] >= 20_000,
        ),
        (
            "replay verify + every signature + checkpoints",
            f"{rp['verify_with_transparency_log_per_s']:,.0f}/s",
            f"raw consume+decode ({rp['verify_with_transparency_log_ratio_to_raw']:.0%})",
            "-",
            True,
        ),
        (
            "webhook deliveries to a fast local receiver, SQLite",
            f"{n['per_s']:,.0f}/s",
            f"bare signed POSTs, {n['workers']} threads {n['bare_signed_posts_per_s']:,.0f}/s "
            f"({n['ratio_to_bare']:.0%})",
            "-",
            n["delivered"] == n["deliveries"],
        ),
    ]


def table(r: dict[str, Any]) -> str:
    lines = [
        "| figure | measured | limit in the same run | target | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {f} | {m} | {lim} | {tgt} | {'yes' if ok else 'NO'} |" for f, m, lim, tgt, ok in rows(r)]
    return "\n".join(lines)


def caption(r: dict[str, Any], path: Path) -> str:
    return f"Run of {r['when']} on {r['machine']}, {r['seconds']} s, every figure from `{path.as_posix()}`:"


def run(*, quick: bool, out: Path) -> str:
    results = measure(QUICK if quick else FULL)
    out.mkdir(parents=True, exist_ok=True)
    name = f"{'quick' if quick else 'full'}-{results['when'].replace(':', '')}.json"
    (out / name).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return f"{caption(results, out / name)}\n{table(results)}"


START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def readme(results_file: Path, readme_file: Path) -> None:
    """Write the table of ``results_file`` into ``readme_file`` between the bench markers."""
    results = json.loads(results_file.read_text(encoding="utf-8"))
    text = readme_file.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{readme_file} has no {START} ... {END} markers")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    body = f"{caption(results, results_file)}\n\n{table(results)}\n"
    readme_file.write_text(f"{before}{START}\n{body}{END}{after}", encoding="utf-8")
