"""``rujukan referral serve`` as a real process: agencies and a credential from the CLI, a create over
HTTP, the event on the topic through the in-process relay, and a clean stop on SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx2 as httpx
import pytest

from rujukan.core.broker import Broker, free_port
from rujukan.core.codec import EventCodec
from rujukan.core.settings import CoreSettings
from tests.kafka_helpers import read_topic
from tests.referral.conftest import referral_body

pytestmark = pytest.mark.integration
RUJUKAN = str(Path(sys.executable).with_name("rujukan"))


def _cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run([RUJUKAN, *args], env=env, capture_output=True, text=True, check=True, timeout=60).stdout


def test_serve_answers_publishes_and_stops_cleanly(broker: Broker, tmp_path: Path) -> None:
    topic = f"test.{uuid.uuid4().hex[:12]}.events"
    env = {
        **os.environ,
        "RUJUKAN_DATA_DIR": str(tmp_path / "data"),
        "RUJUKAN_KAFKA_BOOTSTRAP": broker.bootstrap,
        "RUJUKAN_TOPICS__REFERRAL_EVENTS": topic,
    }
    _cli(env, "agency", "add", "LAPAS-CIPINANG", "--name", "Lapas", "--kind", "corrections", "--region", "31.75")
    _cli(env, "agency", "add", "BAPAS-JAKTIM", "--name", "Bapas", "--kind", "corrections", "--region", "31.75")
    token = _cli(env, "credentials", "issue", "--agency", "LAPAS-CIPINANG").strip()
    port = free_port()
    server = subprocess.Popen(
        [RUJUKAN, "referral", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        created = httpx.post(
            f"{base}/v1/referrals", json=referral_body(), timeout=10, headers={"Authorization": f"Bearer {token}"}
        )
        assert created.status_code == 201, created.text
        assert (tmp_path / "data" / "master.key").stat().st_mode & 0o077 == 0
        settings = CoreSettings(_env_file=None, kafka_bootstrap=broker.bootstrap)  # type: ignore[call-arg]
        [record] = read_topic(settings, topic, expected=1)
        assert str(EventCodec().decode(record.value).record["referral_id"]) == created.json()["id"]
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=20)
    assert server.returncode == 0
    assert "Traceback" not in stderr
