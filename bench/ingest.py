"""Ingest: referral creates/s and latency over HTTP, measured with wrk (bench/wrk.py), beside a bare
FastAPI endpoint with the same number of worker processes, in one run.

1. ``rujukan referral serve`` (one process, the relay in it) on SQLite and on PostgreSQL, publishing to
   the embedded broker;
2. ``rujukan up`` (the APIs in one process, the relay and the notifier in workers), SQLite.

Only 2xx answers count; a row with any other answer or a socket error is "not met".
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx

from bench import wrk
from bench.loadgen import BODY
from bench.system import RUJUKAN, running_up
from rujukan.core.broker import EmbeddedBroker, free_port
from rujukan.core.db import make_engine
from rujukan.core.postgres import EmbeddedPostgres
from rujukan.core.sealing import MasterKey
from rujukan.core.signatures import SigningKeys
from rujukan.core.vocabulary import AgencyKind
from rujukan.referral.context import ReferralContext
from rujukan.referral.migrate import upgrade
from rujukan.referral.registry import AgencyIn, add_agency, issue_credential


@contextlib.contextmanager
def database(backend: str, directory: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'referral.db'}"
        return
    # A PostgreSQL of its own (durable, as in production), in a directory its server user can reach.
    with (
        tempfile.TemporaryDirectory(prefix="rujukan-bench-postgres-") as scratch,
        EmbeddedPostgres(Path(scratch)) as pg,
    ):
        yield pg.create_database("rujukan_bench")


def prepare(url: str, key: bytes) -> str:
    engine = make_engine(url)
    upgrade(engine)
    ctx = ReferralContext(engine=engine, master_key=MasterKey(key), signing=SigningKeys.generate("bench.local/log"))
    for code, kind in (("LAPAS-CIPINANG", AgencyKind.CORRECTIONS), ("BAPAS-JAKTIM", AgencyKind.CORRECTIONS)):
        add_agency(ctx, agency=AgencyIn(code=code, name=code, kind=kind, region_code="31.75"))
    secret = issue_credential(ctx, agency_code="LAPAS-CIPINANG").secret
    engine.dispose()
    return secret


@contextlib.contextmanager
def server(url: str, key: bytes, bootstrap: str, data_dir: Path) -> Iterator[str]:
    """``rujukan referral serve`` (one worker, relay in process) on a free port."""
    env = {
        **os.environ,
        "RUJUKAN_REFERRAL_DATABASE_URL": url,
        "RUJUKAN_KAFKA_BOOTSTRAP": bootstrap,
        "RUJUKAN_MASTER_KEY": base64.b64encode(key).decode(),
        "RUJUKAN_DATA_DIR": str(data_dir),
        "RUJUKAN_RATE_LIMIT_PER_S": "0",  # one credential at full speed: the service's capacity, not its policy
    }
    with serving([RUJUKAN, "referral", "serve"], env) as base:
        yield base


@contextlib.contextmanager
def bare_server(workers: int = 1) -> Iterator[str]:
    """The bare FastAPI endpoint (bench/bare.py) with ``workers`` uvicorn worker processes."""
    with serving(
        [sys.executable, "-m", "uvicorn", "bench.bare:app", "--log-level", "warning", "--workers", str(workers)],
        dict(os.environ),
    ) as base:
        yield base


@contextlib.contextmanager
def serving(command: list[str], env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own programs
        [*command, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(15)


def creates(base: str, token: str | None, *, connections: int, seconds: float) -> dict[str, Any]:
    """wrk POSTing the create body for ``seconds`` after a 2 s warm-up (its figures: bench/wrk.py)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    wrk.run(f"{base}/v1/referrals", body=BODY, headers=headers, connections=connections, seconds=2)
    return wrk.run(f"{base}/v1/referrals", body=BODY, headers=headers, connections=connections, seconds=seconds)


def measure(
    *,
    seconds: float = 10,
    connections: int = 16,
    backends: tuple[str, ...] = ("sqlite", "postgresql"),
) -> dict[str, Any]:
    """Creates/s of the referral service alone (relay in process) on each backend and through ``rujukan
    up``, each next to the bare FastAPI endpoint with the same number of worker processes (one: the API of
    both is one process), measured before and after them in the same run."""
    key = os.urandom(32)
    results: dict[str, Any] = {"connections": connections, "seconds": seconds, "load_generator": "wrk"}
    with bare_server() as base:
        results["bare_fastapi_before"] = creates(base, None, connections=connections, seconds=seconds)
    with EmbeddedBroker() as broker:
        for backend in backends:
            with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
                token = prepare(url, key)
                with server(url, key, broker.bootstrap, Path(tmp)) as base:
                    results[f"service_{backend}"] = creates(base, token, connections=connections, seconds=seconds)
    with running_up() as system:
        results["up_sqlite"] = creates(system.base, system.agency, connections=connections, seconds=seconds)
    with bare_server() as base:
        results["bare_fastapi_after"] = creates(base, None, connections=connections, seconds=seconds)
    bare = (results["bare_fastapi_before"]["ok_per_s"] + results["bare_fastapi_after"]["ok_per_s"]) / 2
    results["bare_fastapi_per_s"] = round(bare, 1)
    for name in [f"service_{b}" for b in backends] + ["up_sqlite"]:
        results[name]["ratio_to_bare"] = round(results[name]["ok_per_s"] / bare, 3) if bare else 0.0
    return results


ROWS = {
    "service_sqlite": "referral serve alone (relay in process), SQLite",
    "service_postgresql": "referral serve alone (relay in process), PostgreSQL",
    "up_sqlite": "rujukan up (embedded broker, SQLite)",
}


def report(results: dict[str, Any]) -> str:
    before, after = results["bare_fastapi_before"]["ok_per_s"], results["bare_fastapi_after"]["ok_per_s"]
    lines = [
        f"ingest: POST /v1/referrals, wrk {results['connections']} connections, {results['seconds']:.0f} s each; "
        f"bare FastAPI (1 worker) {results['bare_fastapi_per_s']:,.0f}/s (before {before:,.0f}, after {after:,.0f})"
    ]
    for name, label in ROWS.items():
        if name not in results:
            continue
        r = results[name]
        lines.append(
            f"  {label:<52} {r['ok_per_s']:>8,.0f} creates/s ({r['ratio_to_bare']:.0%} of bare)  "
            f"p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  answers {r['statuses']}"
            + (f"  socket errors {r['socket_errors']}" if r["socket_errors"] else "")
        )
    return "\n".join(lines)
