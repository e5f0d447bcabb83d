"""Handoff latency: from a create's 201 to the referral being visible to a coordinator, at a fixed rate.

``rujukan up`` runs as a user runs it (bench/system.py); a coordinator's client holds the dashboard's live
stream (``/v1/stream``, server-sent events, sent once the tracker has applied a change) and notes the
wall time each referral id first arrives; an open-loop load generator process (bench/loadgen.py) offers
creates at the rate and records, for each 201, when it was due and when it was answered.

Handoff latency = first seen on the stream - answered (the issue's "201 to visible"); also reported
from when the create was due (the strict figure, which includes the create's own wait). The run fails
(``met`` false) if any request was dropped, fewer than 98% of those offered were answered 201, or a
created referral never appeared within ``SETTLE_S``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import httpx2 as httpx

from bench.loadgen import percentile
from bench.system import Running, running_up

SETTLE_S = 30.0
WARM_UP_S = 3.0


class Watcher:
    """The coordinator's live stream, read on a thread: referral id -> wall time first seen."""

    def __init__(self, system: Running) -> None:
        self.seen: dict[str, float] = {}
        self._system = system
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._read, name="sse", daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        if not self._connected.wait(30):
            raise SystemExit("the live stream did not open")
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self._system.coordinator}"}
        try:
            with (
                httpx.Client(base_url=self._system.base, timeout=httpx.Timeout(10, read=None)) as client,
                client.stream("GET", "/v1/stream", headers=headers) as stream,
            ):
                self._connected.set()
                for line in stream.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith("data: "):
                        now = time.time()
                        for referral_id in json.loads(line.removeprefix("data: "))["referral_ids"]:
                            self.seen.setdefault(referral_id, now)
        except httpx.HTTPError:
            if not self._stop.is_set():
                raise  # the stream broke while we measured: the run's figures would be wrong
            # else rujukan up stopped first and closed the stream: the measurement is over


def offer(system: Running, *, rate: float, seconds: float) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "bench.loadgen",
            "--url",
            system.base,
            "--token",
            system.agency,
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
    )
    return dict(json.loads(done.stdout))


def _wait_until_seen(watcher: Watcher, ids: set[str]) -> None:
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline and not ids <= watcher.seen.keys():
        time.sleep(0.05)


def measure(*, rate: float = 300, seconds: float = 30) -> dict[str, Any]:
    with running_up() as system, Watcher(system) as watcher:
        warm = offer(system, rate=rate, seconds=WARM_UP_S)
        _wait_until_seen(watcher, {referral_id for referral_id, _, _ in warm["created"]})
        result = offer(system, rate=rate, seconds=seconds)
        created = {referral_id: (due, answered) for referral_id, due, answered in result.pop("created")}
        _wait_until_seen(watcher, set(created))
        seen = dict(watcher.seen)
    from_answer = sorted((seen[r] - answered) * 1000 for r, (_, answered) in created.items() if r in seen)
    from_due = sorted((seen[r] - due) * 1000 for r, (due, _) in created.items() if r in seen)
    not_visible = len(created.keys() - seen.keys())
    met_load = result["dropped"] == 0 and result["answered_per_s"] >= 0.98 * rate
    return {
        **result,
        "not_visible": not_visible,
        "handoff_p50_ms": percentile(from_answer, 0.5, empty=float("nan")),
        "handoff_p99_ms": percentile(from_answer, 0.99, empty=float("nan")),
        "handoff_max_ms": from_answer[-1] if from_answer else float("nan"),
        "handoff_p99_ms_from_due": percentile(from_due, 0.99, empty=float("nan")),
        "load_honoured": met_load,
    }


def report(r: dict[str, Any]) -> str:
    honoured = "yes" if r["load_honoured"] else "NO (dropped requests or under 98% answered: not met)"
    return (
        f"handoff latency through rujukan up (201 -> on the coordinator's live stream), "
        f"{r['offered_per_s']:.0f} creates/s offered for {r['offered_seconds']:.0f} s:\n"
        f"  p50 {r['handoff_p50_ms']:7.1f} ms   p99 {r['handoff_p99_ms']:7.1f} ms   max {r['handoff_max_ms']:7.1f} ms"
        f"   (p99 from when each create was due: {r['handoff_p99_ms_from_due']:.1f} ms)\n"
        f"  offered {r['offered']}, answered {r['statuses']} ({r['answered_per_s']:.0f}/s kept), "
        f"dropped {r['dropped']}, not visible after "
        f"{SETTLE_S:.0f} s {r['not_visible']}; create p99 from due {r['create_p99_ms_from_due']:.1f} ms; "
        f"load honoured: {honoured}"
    )
