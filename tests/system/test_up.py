"""``rujukan up`` as a user runs it: a subprocess on free ports, driven over HTTP; the broker is killed
and must come back with nothing lost; Ctrl-C (SIGINT) stops everything; a second start on the same data
dir shows the same referrals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from rujukan.core.broker import free_port
from tests.processes import gone

pytestmark = pytest.mark.integration
RUJUKAN = [sys.executable, "-m", "rujukan.cli.main"]
SUBJECT = {"full_name": "Budi Contoh", "sex": "male", "category": "inmate_pre_release", "region_code": "31.75"}


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("RUJUKAN_")}


def wait_for(check: Any, timeout: float = 60, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        time.sleep(every)
    raise AssertionError("not in time")


@contextmanager
def up(data: Path, port: int, *options: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    log_path = data.parent / f"up-{port}.log"
    log = log_path.open("ab")
    process = subprocess.Popen(
        [*RUJUKAN, "up", "--data-dir", str(data), "--port", str(port), *options],
        env=clean_env() | (env or {}),
        stdout=log,
        stderr=log,
    )

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"rujukan up exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200

    try:
        wait_for(healthy)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()


def cli(data: Path, *args: str) -> str:
    done = subprocess.run(
        [*RUJUKAN, *args, "--data-dir", str(data)], env=clean_env(), capture_output=True, check=True, timeout=60
    )
    return done.stdout.decode().strip()


def create(base: str, secret: str) -> dict[str, Any]:
    body = {
        "to_agency": "BAPAS-JAKTIM",
        "service_type": "supervision",
        "urgency": "urgent",
        "reason": "Pembebasan bersyarat",
        "legal_basis": "legal_obligation",
        "subject": SUBJECT,
    }
    answer = httpx.post(f"{base}/v1/referrals", json=body, headers={"Authorization": f"Bearer {secret}"}, timeout=30)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def visible(base: str, coordinator: str, referral_id: str) -> bool:
    answer = httpx.get(f"{base}/v1/handoffs/{referral_id}", headers={"Authorization": f"Bearer {coordinator}"})
    return answer.status_code == 200


def test_up_survives_a_broker_crash_stops_cleanly_and_keeps_its_data(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    with up(data, port) as process:
        cli(data, "agency", "add", "LAPAS-CIPINANG", "--name", "Lapas", "--kind", "corrections", "--region", "31.75")
        cli(data, "agency", "add", "BAPAS-JAKTIM", "--name", "Bapas", "--kind", "corrections", "--region", "31.75")
        lapas = cli(data, "credentials", "issue", "--agency", "LAPAS-CIPINANG")
        coordinator = json.loads((data / "credentials.json").read_text())["coordinator"]
        assert oct((data / "credentials.json").stat().st_mode & 0o777) == "0o600"
        first = create(base, lapas)
        wait_for(lambda: visible(base, coordinator, first["id"]))

        running = json.loads((data / "running.json").read_text())
        assert running["http"] == base
        os.kill(running["broker_pid"], signal.SIGKILL)  # the broker crashes and loses its log
        restarted = wait_for(
            lambda: (
                json.loads((data / "running.json").read_text())["broker_pid"] != running["broker_pid"]
                and json.loads((data / "running.json").read_text())
            )
        )
        second = create(base, lapas)
        wait_for(lambda: visible(base, coordinator, second["id"]), timeout=90)
        assert visible(base, coordinator, first["id"])
        cli(data, "audit", "replay", "--idle-timeout", "20")  # finds the running broker through the data dir; exit 0

        process.send_signal(signal.SIGINT)  # Ctrl-C
        process.wait(20)
    assert process.returncode == 0
    assert gone(restarted["broker_pid"])
    assert gone(running["broker_pid"])
    assert not (data / "running.json").exists()

    with up(data, port) as again:
        answer = httpx.get(f"{base}/v1/referrals/{first['id']}", headers={"Authorization": f"Bearer {lapas}"})
        assert answer.status_code == 200
        assert answer.json()["subject"]["full_name"] == "Budi Contoh"
        assert visible(base, coordinator, second["id"])
        again.send_signal(signal.SIGINT)
        again.wait(20)
    assert again.returncode == 0
