"""No silent stalls: ``rujukan up`` heals itself whatever the embedded broker does.

Twelve times over a growing log, the broker is killed (-9), and killed again 0.2 to 1.0 s after the
supervisor brought it back (while the relay republishes the event store into it). After each double kill
every referral must reach the tracker and every due webhook must be sent within 30 s, and ``/readyz``
must answer 200 again. Before the loop supervisor and its watchdog, about half of such runs left the
tracker's and the notifier's consumers polling for good with nothing arriving (docs/embedded-broker.md).

``RUJUKAN_STALL_RUNS`` repeats the whole run (default 1).
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from rujukan.core.broker import free_port
from tests.notifier.receiver import Receiver
from tests.system.test_up import cli, up

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]
ROUNDS = 12
SEED_REFERRALS = 400  # the log before the first round
PER_ROUND = 40  # referrals created before each double kill (the log keeps growing)
HEAL_S = 30.0
RUNS = int(os.environ.get("RUJUKAN_STALL_RUNS", "1"))
SUBJECT = {"full_name": "Budi Contoh", "sex": "male", "category": "inmate_pre_release", "region_code": "31.75"}


class System:
    """A running ``rujukan up`` seen from outside: its data dir, address and credentials."""

    def __init__(self, data: Path, base: str, receiver: Receiver) -> None:
        self.data, self.base, self.receiver = data, base, receiver
        cli(data, "agency", "add", "LAPAS-CIPINANG", "--name", "Lapas", "--kind", "corrections", "--region", "31.75")
        cli(data, "agency", "add", "BAPAS-JAKTIM", "--name", "Bapas", "--kind", "corrections", "--region", "31.75")
        self.lapas = {"Authorization": f"Bearer {cli(data, 'credentials', 'issue', '--agency', 'LAPAS-CIPINANG')}"}
        bapas = {"Authorization": f"Bearer {cli(data, 'credentials', 'issue', '--agency', 'BAPAS-JAKTIM')}"}
        coordinator = json.loads((data / "credentials.json").read_text())["coordinator"]
        self.coordinator = {"Authorization": f"Bearer {coordinator}"}
        subscribed = httpx.put(
            f"{base}/v1/subscription", json={"url": receiver.url("/bapas")}, headers=bapas, timeout=30
        )
        assert subscribed.status_code == 200, subscribed.text
        self.created = 0

    def create(self, count: int) -> None:
        body = {
            "to_agency": "BAPAS-JAKTIM",
            "service_type": "supervision",
            "urgency": "urgent",
            "reason": "Pembebasan bersyarat",
            "legal_basis": "legal_obligation",
            "subject": SUBJECT,
        }
        with httpx.Client(base_url=self.base, headers=self.lapas, timeout=30) as client:
            for _ in range(count):
                answer = client.post("/v1/referrals", json=body)
                assert answer.status_code == 201, answer.text
                self.created += 1

    def broker_pid(self) -> int:
        return int(json.loads((self.data / "running.json").read_text())["broker_pid"])

    def kill_broker_and_wait_for_its_restart(self) -> None:
        killed = self.broker_pid()
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.broker_pid() != killed:
                    return
            except (OSError, ValueError, KeyError):
                pass  # running.json is being replaced
            time.sleep(0.02)
        raise AssertionError("the supervisor did not restart the broker within 30 s")

    def in_tracker(self) -> int:
        answer = httpx.get(f"{self.base}/v1/handoffs", params={"page_size": 1}, headers=self.coordinator, timeout=10)
        return int(answer.json()["total"]) if answer.status_code == 200 else -1

    def webhooks(self) -> int:
        return len({r.headers["webhook-id"] for r in self.receiver.at("/bapas")})

    def ready(self) -> tuple[int, Any]:
        answer = httpx.get(f"{self.base}/readyz", timeout=10)
        return answer.status_code, answer.json()


def healed_within(system: System, seconds: float) -> tuple[bool, str]:
    """Whether the tracker, the webhooks and readiness caught up with everything created, in time."""
    deadline = time.monotonic() + seconds
    seen = ""
    while time.monotonic() < deadline:
        try:
            tracker, webhooks = system.in_tracker(), system.webhooks()
            status, body = system.ready()
        except httpx.HTTPError as exc:
            tracker, webhooks, status, body = -1, -1, 0, type(exc).__name__
        seen = f"tracker {tracker}, webhooks {webhooks} of {system.created}; readyz {status} {body}"
        if tracker == system.created and webhooks == system.created and status == 200:
            return True, seen
        time.sleep(0.5)
    return False, seen


@pytest.mark.parametrize("run", range(RUNS))
def test_two_broker_kills_in_quick_succession_never_stall_the_system(tmp_path: Path, run: int) -> None:
    rng = random.Random()
    data, port = tmp_path / "data", free_port()
    with Receiver() as receiver, up(data, port, env={"RUJUKAN_RATE_LIMIT_PER_S": "0"}) as process:
        system = System(data, f"http://127.0.0.1:{port}", receiver)
        system.create(SEED_REFERRALS)
        healed, seen = healed_within(system, 120)
        assert healed, f"the system did not catch up before the first fault: {seen}"
        for round_ in range(ROUNDS):
            system.create(PER_ROUND)
            system.kill_broker_and_wait_for_its_restart()
            time.sleep(rng.uniform(0.2, 1.0))
            system.kill_broker_and_wait_for_its_restart()
            system.create(5)
            healed, seen = healed_within(system, HEAL_S)
            if not healed:
                os.kill(process.pid, signal.SIGUSR1)  # every thread's stack into the log, for the report
                time.sleep(1)
            assert healed, f"round {round_ + 1}: not healed within {HEAL_S:.0f} s: {seen}; log: {tmp_path}"
