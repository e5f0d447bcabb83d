"""Ingest: referral creates/s and latency over HTTP, one uvicorn worker, SQLite and PostgreSQL.

Starts the embedded broker, prepares a database with agencies and a credential, runs
``rujukan referral serve`` as a subprocess (with the in-process relay publishing to the broker) and a
separate load-generator process against it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx

from rujukan.core.broker import EmbeddedBroker, free_port
from rujukan.core.db import make_engine
from rujukan.core.postgres import EmbeddedPostgres
from rujukan.core.sealing import MasterKey
from rujukan.core.signatures import SigningKeys
from rujukan.core.vocabulary import AgencyKind
from rujukan.referral.context import ReferralContext
from rujukan.referral.migrate import upgrade
from rujukan.referral.registry import AgencyIn, add_agency, issue_credential

RUJUKAN = str(Path(sys.executable).with_name("rujukan"))


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
def bare_server() -> Iterator[str]:
    """The bare FastAPI endpoint (bench/bare.py), one uvicorn worker."""
    with serving(
        [sys.executable, "-m", "uvicorn", "bench.bare:app", "--log-level", "warning"], dict(os.environ)
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


def load(base: str, token: str, *, concurrency: int, seconds: float, rate: float | None = None) -> dict[str, Any]:
    paced = ["--rate", str(rate)] if rate is not None else []
    result = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "bench.loadgen",
            "--url",
            base,
            "--token",
            token,
            "--concurrency",
            str(concurrency),
            "--seconds",
            str(seconds),
            *paced,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
    )
    return dict(json.loads(result.stdout))


def measure(
    *,
    seconds: float = 10,
    concurrency: int = 16,
    backends: tuple[str, ...] = ("sqlite", "postgresql"),
) -> dict[str, Any]:
    key = os.urandom(32)
    results: dict[str, Any] = {}
    with EmbeddedBroker() as broker:
        for backend in backends:
            with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
                token = prepare(url, key)
                with server(url, key, broker.bootstrap, Path(tmp)) as base:
                    load(base, token, concurrency=concurrency, seconds=min(2.0, seconds))  # warm-up
                    results[backend] = load(base, token, concurrency=concurrency, seconds=seconds)
    with bare_server() as base:
        load(base, "none", concurrency=concurrency, seconds=min(2.0, seconds))
        results["bare_fastapi"] = load(base, "none", concurrency=concurrency, seconds=seconds)
    for backend in backends:
        results[backend]["ratio_to_bare"] = results[backend]["per_s"] / results["bare_fastapi"]["per_s"]
    return results


def report(results: dict[str, Any]) -> str:
    lines = ["ingest: POST /v1/referrals, one uvicorn worker, relay in process, load generator in its own process"]
    for backend, r in results.items():
        ratio = f", {r['ratio_to_bare']:.0%} of bare FastAPI" if "ratio_to_bare" in r else ""
        lines.append(
            f"  {backend:<11} {r['per_s']:>8,.0f} creates/s  p50 {r['p50_ms']:6.1f} ms  "
            f"p95 {r['p95_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  ({r['requests']} requests, "
            f"{r['concurrency']} clients, statuses {r['statuses']}{ratio})"
        )
    return "\n".join(lines)
