"""``rujukan up`` for the benchmarks: started on a free port in a scratch data dir, two agencies registered
through the CLI, and their credential and the coordinator's handed over; stopped with Ctrl-C (SIGINT)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx

from rujukan.core.broker import free_port

START_S = 90.0
RUJUKAN = str(Path(sys.executable).with_name("rujukan"))


@dataclass(frozen=True)
class Running:
    base: str
    agency: str  # the referring agency's (LAPAS-CIPINANG) bearer secret
    coordinator: str
    data: Path


def _cli(data: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(  # noqa: S603 - our own program
        [RUJUKAN, *args, "--data-dir", str(data)], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


@contextlib.contextmanager
def running_up(*options: str) -> Iterator[Running]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUJUKAN_")} | {"RUJUKAN_RATE_LIMIT_PER_S": "0"}
    with tempfile.TemporaryDirectory(prefix="rujukan-bench-up-") as tmp:
        data, port = Path(tmp) / "data", free_port()
        log = (Path(tmp) / "up.log").open("wb")
        process = subprocess.Popen(  # noqa: S603 - our own program
            [RUJUKAN, "up", "--data-dir", str(data), "--port", str(port), *options], env=env, stdout=log, stderr=log
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(base, process)
            for code in ("LAPAS-CIPINANG", "BAPAS-JAKTIM"):
                _cli(data, env, "agency", "add", code, "--name", code, "--kind", "corrections", "--region", "31.75")
            agency = _cli(data, env, "credentials", "issue", "--agency", "LAPAS-CIPINANG")
            coordinator = json.loads((data / "credentials.json").read_text())["coordinator"]
            yield Running(base=base, agency=agency, coordinator=coordinator, data=data)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            log.close()


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"rujukan up exited with {process.returncode} while starting")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"rujukan up was not ready after {START_S:.0f} s")
