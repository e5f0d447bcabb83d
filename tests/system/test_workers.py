"""``rujukan up``'s worker processes as an operator meets them: the relay and the notifier run beside the
API; a worker killed -9 under load is named in ``/readyz``, restarted, and nothing it was doing is lost;
the two killed together, and then ``up`` itself killed -9, leave no process behind."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from rujukan.core.broker import free_port
from tests.notifier.receiver import Receiver
from tests.processes import gone
from tests.system.test_no_silent_stalls import System, healed_within
from tests.system.test_up import SUBJECT, up, wait_for

pytestmark = pytest.mark.integration
BODY = {
    "to_agency": "BAPAS-JAKTIM",
    "service_type": "supervision",
    "urgency": "urgent",
    "reason": "Pembebasan bersyarat",
    "legal_basis": "legal_obligation",
    "subject": SUBJECT,
}


def running(data: Path) -> dict[str, int]:
    return {k: int(v) for k, v in json.loads((data / "running.json").read_text()).items() if k.endswith("pid")}


def test_a_worker_killed_under_load_is_named_restarted_and_loses_nothing(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    with Receiver() as receiver, up(data, port, env={"RUJUKAN_RATE_LIMIT_PER_S": "0"}):
        system = System(data, base, receiver)
        wait_for(lambda: httpx.get(f"{base}/readyz", timeout=10).status_code == 200, timeout=60)
        pids = running(data)
        assert {"relay_pid", "notifier_pid"} <= pids.keys()
        assert len({pids["pid"], pids["relay_pid"], pids["notifier_pid"]}) == 3  # processes of their own

        system.create(20)
        os.kill(pids["relay_pid"], signal.SIGKILL)

        def not_ready() -> str | None:
            answer = httpx.get(f"{base}/readyz", timeout=10)
            return answer.json()["checks"]["referral.worker"] if answer.status_code == 503 else None

        assert wait_for(not_ready, timeout=10, every=0.05) in ("starting", "not running (rujukan up starts it again)")
        system.create(20)  # the API keeps answering: the events wait in the event store
        healed, seen = healed_within(system, 60)
        assert healed, seen
        assert running(data)["relay_pid"] != pids["relay_pid"]

        both = running(data)
        os.kill(both["relay_pid"], signal.SIGKILL)
        os.kill(both["notifier_pid"], signal.SIGKILL)
        system.create(10)
        healed, seen = healed_within(system, 60)
        assert healed, seen
    console = (tmp_path / f"up-{port}.log").read_text()
    assert "the relay worker (killed by signal 9) stopped; starting it again" in console
    assert "the notifier worker (killed by signal 9) stopped; starting it again" in console


def test_workers_and_broker_end_with_a_killed_up(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    with up(data, port) as process:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: httpx.get(f"{base}/readyz", timeout=10).status_code == 200, timeout=60)
        children = running(data)
        process.kill()  # kill -9: no chance to stop anything
        process.wait(10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(gone(pid) for pid in children.values()):
        time.sleep(0.2)
    assert [name for name, pid in children.items() if not gone(pid)] == []


def test_the_live_stream_follows_the_tracker_worker(tmp_path: Path) -> None:
    """The dashboard's stream is served by up's process; the consumer runs in the tracker worker: the
    change feed between them brings each new referral's id to the stream."""
    data, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    with Receiver() as receiver, up(data, port):
        system = System(data, base, receiver)
        heard: list[str] = []
        opened = threading.Event()

        def listen() -> None:
            with (
                httpx.Client(base_url=base, timeout=httpx.Timeout(10, read=20)) as client,
                client.stream("GET", "/v1/stream", headers=system.coordinator) as stream,
            ):
                opened.set()
                for line in stream.iter_lines():
                    if line.startswith("data: "):
                        heard.extend(json.loads(line.removeprefix("data: "))["referral_ids"])
                        return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        assert opened.wait(10)
        time.sleep(1)  # the follower starts at the feed's end once someone listens
        answer = httpx.post(f"{base}/v1/referrals", json=BODY, headers=system.lapas, timeout=30)
        assert answer.status_code == 201, answer.text
        listener.join(15)
        assert heard == [answer.json()["id"]]
