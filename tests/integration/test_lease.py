"""Leases on real databases: one holder at a time, a standby that stands by quietly, and a handover within
seconds when the holder is killed -9 (the server, or the kernel, frees what a dead process held)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from rujukan.core import lease as lease_module
from rujukan.core.db import make_engine
from rujukan.core.lease import Lease, Leased
from tests.databases import BACKENDS, database_url

pytestmark = pytest.mark.integration
HOLDER = """
import sys, time
from rujukan.core.db import make_engine
from rujukan.core.lease import Lease
lease = Lease(make_engine(sys.argv[1]), "relay")
while not lease.held():
    time.sleep(0.05)
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    with database_url(request.param, tmp_path) as found:
        yield found


def engines(url: str, count: int) -> list[Engine]:
    return [make_engine(url) for _ in range(count)]


def test_one_holder_at_a_time_and_a_release_hands_over(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lease_module, "TRY_EVERY_S", 0.1)
    first_engine, second_engine = engines(url, 2)
    first, second = Lease(first_engine, "relay"), Lease(second_engine, "relay")
    other = Lease(second_engine, "sla-sweep")
    try:
        assert first.held()
        assert not second.held()
        assert other.held()  # another name is another lease
        assert first.held()  # still held: the holder checks its hold, it does not lose it
        first.release()
        time.sleep(0.15)
        assert second.held()
        time.sleep(0.15)
        assert not first.held()
    finally:
        for held in (first, second, other):
            held.release()
        first_engine.dispose()
        second_engine.dispose()


class Counting:
    def __init__(self) -> None:
        self.steps = self.closes = 0

    def step(self) -> int:
        self.steps += 1
        return 1

    def idle(self) -> None:
        return None

    def backlog(self) -> int | None:
        return 7

    def close(self) -> None:
        self.closes += 1


def test_a_standby_does_not_work_and_reports_no_backlog(
    url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(lease_module, "TRY_EVERY_S", 0.1)
    first_engine, second_engine = engines(url, 2)
    active, standby = Counting(), Counting()
    leader, follower = Leased(active, Lease(first_engine, "relay")), Leased(standby, Lease(second_engine, "relay"))
    try:
        assert leader.step() == 1
        with caplog.at_level("INFO", logger="rujukan.lease"):
            assert (follower.step(), standby.steps, follower.backlog(), leader.backlog()) == (0, 0, None, 7)
            time.sleep(0.15)
            assert follower.step() == 0
        # an operator sees that the instance is up and waiting, once, not at every try
        assert [r.getMessage() for r in caplog.records] == ["relay: standing by; another instance holds the lease"]
        leader.close()  # a stopping instance hands over
        time.sleep(0.15)
        assert follower.step() == 1
        assert follower.active
        assert not leader.active
    finally:
        leader.close()
        follower.close()
        first_engine.dispose()
        second_engine.dispose()


def test_a_holder_killed_9_is_replaced_within_seconds(url: str) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, text=True)
    (engine,) = engines(url, 1)
    standby = Lease(engine, "relay")
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        assert not standby.held()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        killed = time.monotonic()
        while not standby.held():
            assert time.monotonic() - killed < 10, "no handover within 10 s"
            time.sleep(0.05)
        handover = time.monotonic() - killed
        print(f"lease handover after kill -9: {handover:.2f} s")
        assert handover < 10
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
        standby.release()
        engine.dispose()


def test_a_holder_cut_off_from_the_database_stops_holding(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL: the holder's lease connection is terminated (a restart, a network cut); the holder learns
    it at its next check and stands by, and another instance takes the lease."""
    if not url.startswith("postgresql"):
        pytest.skip("an flock cannot be taken from a living process")
    monkeypatch.setattr(lease_module, "TRY_EVERY_S", 60.0)  # each tries once here: first cannot take it back
    monkeypatch.setattr(lease_module, "CHECK_EVERY_S", 0.1)
    first_engine, second_engine = engines(url, 2)
    first, second = Lease(first_engine, "relay"), Lease(second_engine, "relay")
    try:
        assert first.held()
        with second_engine.connect() as connection:
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            )
            connection.commit()
        deadline, lost = time.monotonic() + 5, False
        while not lost and time.monotonic() < deadline:  # the server ends the backend in its own time
            lost = not first.held()
            time.sleep(0.05)
        assert lost
        assert second.held()
    finally:
        first.release()
        second.release()
        first_engine.dispose()
        second_engine.dispose()
