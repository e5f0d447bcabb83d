"""The benchmarks' honesty rules, as pure functions: only 2xx answers count, a row with any error is not
met, a latency run that dropped requests or answered too few is not met, and the README table is written
from one results file between its markers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bench import all as everything
from bench.wrk import figures

RAW = {
    "duration_us": 10_000_000,
    "requests": 4_000,
    "statuses": {"201": 3_900, "429": 60, "503": 40},
    "socket_errors": {"connect": 0, "read": 2, "write": 0, "timeout": 0},
    "latency_us": {"p50": 9_000, "p90": 20_000, "p95": 30_000, "p99": 45_000, "max": 90_000, "mean": 11_000.0},
}


def test_only_2xx_answers_count_and_every_other_is_an_error() -> None:
    found = figures(RAW, connections=16)
    assert found["ok"] == 3_900
    assert found["ok_per_s"] == 390.0  # not the 400/s wrk itself reports
    assert found["errors"] == 60 + 40 + 2
    assert found["socket_errors"] == {"read": 2}
    assert (found["p50_ms"], found["p95_ms"], found["p99_ms"]) == (9.0, 30.0, 45.0)


def run(ok_per_s: float, *, errors: int = 0, p99: float = 20.0) -> dict[str, Any]:
    return {"ok_per_s": ok_per_s, "errors": errors, "p99_ms": p99, "ratio_to_bare": ok_per_s / 1000}


def results(**changes: Any) -> dict[str, Any]:
    ingest = {
        "bare_fastapi_per_s": 1000.0,
        "up_sqlite": run(400),
        "service_sqlite": run(600),
        "service_postgresql": run(300),
    }
    latency = {
        "offered_per_s": 300.0,
        "handoff_p50_ms": 40.0,
        "handoff_p99_ms": 200.0,
        "answered_share": 1.0,
        "answered_per_s": 299.0,
        "dropped": 0,
        "create_p99_ms_from_due": 60.0,
        "load_honoured": True,
        "not_visible": 0,
    }
    found: dict[str, Any] = {
        "when": "2026-12-02T08:00:00+00:00",
        "machine": "x86_64, 2 cores",
        "seconds": 600,
        "codec": {
            "encode_per_s": 50_000,
            "bare_fastavro_encode_per_s": 55_000,
            "encode_ratio": 0.9,
            "decode_per_s": 45_000,
            "bare_fastavro_decode_per_s": 50_000,
            "decode_ratio": 0.9,
        },
        "ingest": ingest,
        "latency": latency,
        "tracker": {"sqlite_apply_per_s": 6000, "sqlite_raw_consume_decode_per_s": 20000},
        "replay": {
            "events": 1000,
            "verify_per_s": 60_000,
            "raw_consume_decode_per_s": 70_000,
            "verify_ratio_to_raw": 0.85,
            "verify_rebuild_per_s": 25_000,
            "verify_rebuild_ratio_to_raw": 0.4,
            "verify_with_transparency_log_per_s": 10_000,
            "verify_with_transparency_log_ratio_to_raw": 0.14,
        },
        "notifier": {
            "per_s": 300,
            "deliveries": 10,
            "delivered": 10,
            "workers": 16,
            "bare_signed_posts_per_s": 900,
            "ratio_to_bare": 0.33,
        },
    }
    for path, value in changes.items():
        section, key = path.split("__")
        found[section][key] = value
    return found


def met(table: list[tuple[str, str, str, str, bool]], starts: str) -> bool:
    [row] = [row for row in table if row[0].startswith(starts)]
    return row[4]


def test_every_target_met_when_the_figures_meet_them() -> None:
    assert all(row[4] for row in everything.rows(results()))


def test_a_row_with_any_error_is_not_met_however_fast() -> None:
    table = everything.rows(results(ingest__up_sqlite=run(900, errors=1)))
    assert not met(table, "creates through rujukan up")


@pytest.mark.parametrize(
    "change",
    [{"latency__load_honoured": False}, {"latency__not_visible": 1}, {"latency__handoff_p99_ms": 251.0}],
)
def test_a_latency_run_that_did_not_honour_the_load_is_not_met(change: dict[str, Any]) -> None:
    assert not met(everything.rows(results(**change)), "handoff latency")


def test_the_readme_table_is_written_from_one_results_file(tmp_path: Path) -> None:
    found = tmp_path / "full.json"
    found.write_text(json.dumps(results()), encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\nbefore\n{everything.START}\nold table\n{everything.END}\nafter\n", encoding="utf-8")
    everything.readme(found, readme)
    text = readme.read_text(encoding="utf-8")
    assert "old table" not in text
    assert text.startswith("# x\nbefore\n")
    assert text.endswith(f"{everything.END}\nafter\n")
    assert f"every figure from `{found.as_posix()}`" in text
    assert "| creates through rujukan up, 16 connections (wrk) | 400/s, p99 20 ms |" in text
    readme.write_text("no markers", encoding="utf-8")
    with pytest.raises(SystemExit, match="markers"):
        everything.readme(found, readme)
