"""A closed-loop HTTP load from ``wrk`` (C, Debian package ``wrk``): the load generator that is not the
bottleneck. ``run(url, ...)`` POSTs one JSON body over N connections for a fixed time and returns what
wrk saw: answers by status, socket errors, and latency percentiles of every answer.

Only 2xx answers count as done: ``ok_per_s`` is 2xx answers per second. A run with any non-2xx answer or
socket error is marked ``errors`` (a row of the benchmark table with errors is "not met"). Loopback
targets only; bounded by time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

# wrk's Lua: count answers by status in each thread, merge the threads' counts when done, print one JSON
# line (after wrk's own report) with the counts, socket errors and latency percentiles in microseconds.
SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      merged[tostring(status)] = (merged[tostring(status)] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(merged) do table.insert(parts, string.format('"%s": %d', status, count)) end
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {"duration_us": %d, "requests": %d, "statuses": {%s}, ' ..
    '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p95": %d, "p99": %d, "max": %d, "mean": %.1f}}\\n',
    summary.duration, summary.requests, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end
"""


class WrkMissing(SystemExit):
    def __init__(self) -> None:
        super().__init__("wrk is not installed: apt-get install wrk (the benchmarks' load generator)")


def available() -> bool:
    return shutil.which("wrk") is not None


def _wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise WrkMissing
    return found


def run(
    url: str,
    *,
    body: dict[str, Any] | None,
    headers: dict[str, str] | None = None,
    connections: int = 16,
    threads: int = 2,
    seconds: float = 10,
    method: str = "POST",
) -> dict[str, Any]:
    """One wrk run against ``url``; its figures (see the module docstring)."""
    if not url.startswith(("http://127.", "http://localhost")):
        raise SystemExit("loopback targets only")
    executable = _wrk()
    with tempfile.TemporaryDirectory(prefix="rujukan-wrk-") as tmp:
        script = Path(tmp) / "load.lua"
        sent = {"Content-Type": "application/json", **(headers or {})}
        setup = (
            f"wrk.method = {json.dumps(method)}\n"
            + "".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in sent.items())
            + (f"wrk.body = {json.dumps(json.dumps(body))}\n" if body is not None else "")
        )
        script.write_text(setup + SCRIPT, encoding="utf-8")
        done = subprocess.run(  # noqa: S603 - wrk with our own script, loopback only
            [
                executable,
                f"-t{min(threads, connections)}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK-JSON ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no figures: {done.stdout[-500:]} {done.stderr[-500:]}")
    return figures(json.loads(line.removeprefix("WRK-JSON ")), connections=connections)


def figures(raw: dict[str, Any], *, connections: int) -> dict[str, Any]:
    """wrk's raw counts as the benchmark's figures: 2xx per second, errors, latencies in ms."""
    seconds = raw["duration_us"] / 1e6
    statuses = {str(k): int(v) for k, v in sorted(raw["statuses"].items())}
    ok = sum(count for status, count in statuses.items() if status.startswith("2"))
    socket_errors = {k: int(v) for k, v in raw["socket_errors"].items() if v}
    not_ok = sum(count for status, count in statuses.items() if not status.startswith("2"))
    latency = raw["latency_us"]
    return {
        "connections": connections,
        "seconds": round(seconds, 2),
        "answers": int(raw["requests"]),
        "ok": ok,
        "ok_per_s": round(ok / seconds, 1) if seconds else 0.0,
        "statuses": statuses,
        "socket_errors": socket_errors,
        "errors": not_ok + sum(socket_errors.values()),
        "p50_ms": latency["p50"] / 1000,
        "p90_ms": latency["p90"] / 1000,
        "p95_ms": latency["p95"] / 1000,
        "p99_ms": latency["p99"] / 1000,
        "max_ms": latency["max"] / 1000,
    }
