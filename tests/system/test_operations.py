"""``rujukan up`` as an operator watches it: ``/readyz`` says which part is unwell and recovers with it,
``/metrics`` shows lag and backlog going back to 0, and the console holds only Rujukan's own lines."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from rujukan.core.broker import free_port
from tests.notifier.receiver import Receiver
from tests.system.test_no_silent_stalls import System
from tests.system.test_up import up, wait_for

pytestmark = pytest.mark.integration
SERIES = (
    "rujukan_consumer_lag_messages",
    "rujukan_outbox_backlog_events",
    "rujukan_http_request_duration_seconds",
    "rujukan_webhook_attempts_total",
    "rujukan_dead_letters_total",
    "rujukan_sla_breaches_total",
    "rujukan_loop_restarts_total",
)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def samples(text: str, name: str) -> dict[str, float]:
    """The samples of one metric: labels -> value."""
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, value = line.rsplit(" ", 1)
            found[labels] = float(value)
    return found


def labels_of(sample: str) -> dict[str, str]:
    """The labels of one sample key (``name{a="1",b="2"}``), in whatever order the client wrote them."""
    return dict(re.findall(r'(\w+)="([^"]*)"', sample))


GROUPS = {"rujukan-tracker-v1", "rujukan-tracker-v1-directory", "rujukan-notifier-v1", "rujukan-notifier-v1-sla"}


def group_of(sample: str) -> str:
    return labels_of(sample)["group"]


def settled(base: str) -> str | None:
    """The exposition, once every consumer group's lag and every outbox's backlog is measured and 0.

    Each worker process measures its own consumers every few seconds, so one group can be measured (and 0)
    before another has been measured at all: wait for all of them."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    lags, backlogs = samples(text, "rujukan_consumer_lag_messages"), samples(text, "rujukan_outbox_backlog_events")
    measured = {group_of(key) for key in lags}
    quiet = not any(lags.values()) and bool(backlogs) and not any(backlogs.values())
    return text if measured == GROUPS and quiet else None


def test_readiness_and_metrics_follow_what_happens(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    with Receiver() as receiver, up(data, port, env={"RUJUKAN_RATE_LIMIT_PER_S": "0"}):
        system = System(data, base, receiver)
        wait_for(lambda: httpx.get(f"{base}/readyz", timeout=10).status_code == 200, timeout=60)

        system.create(100)
        wait_for(lambda: system.in_tracker() == 100 and system.webhooks() == 100, timeout=60)
        text = wait_for(lambda: settled(base), timeout=30)  # the watchdog measures every few seconds
        for series in SERIES:
            assert f"# TYPE {series} " in text, series
        answered = [labels_of(key) for key in samples(text, "rujukan_http_request_duration_seconds_count")]
        assert {"service": "referral", "route": "/v1/referrals", "method": "POST", "status": "201"} in answered
        delivered = {'rujukan_webhook_attempts_total{outcome="delivered"}': 100.0}
        # the notifier runs in a worker process, whose metrics reach /metrics with its heartbeat (each second)
        wait_for(
            lambda: (
                samples(httpx.get(f"{base}/metrics", timeout=10).text, "rujukan_webhook_attempts_total") == delivered
            ),
            timeout=10,
        )
        assert not UUID.search(text), "a label carries an id"

        broker = int(json.loads((data / "running.json").read_text())["broker_pid"])
        os.kill(broker, signal.SIGSTOP)  # the broker stops answering (and is not dead, so nobody restarts it)
        try:
            wait_for(lambda: httpx.get(f"{base}/readyz", timeout=10).status_code == 503, timeout=90)
            checks = httpx.get(f"{base}/readyz", timeout=10).json()["checks"]
        finally:
            os.kill(broker, signal.SIGCONT)
        failing = {name: result for name, result in checks.items() if result != "ok"}
        assert any("cannot see the broker" in result for result in failing.values()), failing
        assert checks["tracker.database"] == "ok"
        wait_for(lambda: httpx.get(f"{base}/readyz", timeout=10).status_code == 200, timeout=90)

        system.create(10)
        wait_for(lambda: system.in_tracker() == 110 and system.webhooks() == 110, timeout=60)
        time.sleep(1)
    console = (tmp_path / f"up-{port}.log").read_text()
    assert not re.search(r" (WARNING|ERROR) kafka\.", console), "kafka-python lines on the console"
    assert "blocking the event loop" not in console
    assert "starting it again" not in console, "a worker or the broker was restarted"
    assert (data / "kafka-clients.log").exists()
