"""The loop supervisor's failure policy and watchdog, with hand-written workers (pure threading, no I/O)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from kafka.errors import KafkaConnectionError

from rujukan.core import loops
from rujukan.core.errors import CodecError, safe_trace
from rujukan.core.loops import Supervisor


class Scripted:
    """A worker whose rounds follow a script: an int is work done, an exception is raised."""

    def __init__(self, script: list[int | BaseException], *, backlog: int | None = None) -> None:
        self.script = list(script)
        self.steps = 0
        self.closes = 0
        self.waiting = backlog
        self.lock = threading.Lock()

    def step(self) -> int:
        with self.lock:
            self.steps += 1
            item = self.script.pop(0) if self.script else 0
        if isinstance(item, BaseException):
            raise item
        return item

    def idle(self) -> None:
        time.sleep(0.01)

    def backlog(self) -> int | None:
        return self.waiting

    def close(self) -> None:
        with self.lock:
            self.closes += 1


@contextmanager
def supervising(worker: Scripted, **options: float) -> Iterator[Supervisor]:
    supervisor = Supervisor(**options).add("scripted", worker).start()
    try:
        yield supervisor
    finally:
        supervisor.stop()


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loops, "BACKOFF_S", (0.01, 0.02, 0.05))


def test_an_unexpected_error_restarts_the_worker_with_fresh_clients_and_it_goes_on() -> None:
    worker = Scripted([1, ValueError("boom"), 1, 1])
    with supervising(worker) as supervisor:
        eventually(lambda: worker.steps >= 6)
        state = supervisor.states["scripted"]
        assert state.restarts == 1
        assert worker.closes >= 1
        assert state.alive
        assert state.failing_since is None  # it works again


def test_transient_errors_back_off_and_rebuild_the_clients_from_the_third_in_a_row() -> None:
    worker = Scripted([KafkaConnectionError(), KafkaConnectionError(), 0])
    with supervising(worker):
        eventually(lambda: worker.steps >= 3)
        time.sleep(0.05)
        assert worker.closes == 0  # two in a row: only backing off
    worker = Scripted([KafkaConnectionError()] * 3 + [0])
    with supervising(worker) as supervisor:
        eventually(lambda: worker.steps >= 4)
        assert worker.closes >= 1
        assert supervisor.states["scripted"].restarts == 0  # expected errors are not restarts


def test_a_loop_failing_for_longer_than_the_grace_is_a_readiness_problem() -> None:
    worker = Scripted([KafkaConnectionError()] * 1000)
    with supervising(worker) as supervisor:
        eventually(lambda: worker.steps >= 3)
        state = supervisor.states["scripted"]
        assert state.problem(time.monotonic(), grace_s=60) is None
        problem = state.problem(time.monotonic() + 61, grace_s=60)
        assert problem is not None
        assert "KafkaConnectionError" in problem


def test_the_watchdog_rebuilds_a_worker_with_work_waiting_and_no_progress() -> None:
    worker = Scripted([], backlog=5)  # steps do nothing while 5 messages wait
    with supervising(worker, stall_s=0.2, check_s=0.05) as supervisor:
        eventually(lambda: worker.closes >= 1)
        assert supervisor.states["scripted"].restarts >= 1
        assert supervisor.states["scripted"].backlog == 5


def test_the_watchdog_leaves_a_caught_up_worker_alone() -> None:
    worker = Scripted([], backlog=0)
    with supervising(worker, stall_s=0.2, check_s=0.05) as supervisor:
        time.sleep(0.6)
        assert worker.closes == 0
        assert supervisor.states["scripted"].restarts == 0


def test_a_round_that_never_returns_is_reported_as_hung(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    class Hanging(Scripted):
        def step(self) -> int:
            release.wait(5)
            return 0

    monkeypatch.setattr(loops, "HUNG_S", 0.1)
    worker = Hanging([])
    with supervising(worker, check_s=0.05) as supervisor:
        time.sleep(0.3)
        problem = supervisor.states["scripted"].problem(time.monotonic(), grace_s=1)
        release.set()
    assert problem is not None
    assert problem.startswith("hung for")


def test_stopping_ends_every_loop_and_closes_its_worker() -> None:
    worker = Scripted([])
    supervisor = Supervisor().add("scripted", worker).start()
    supervisor.stop()
    assert not supervisor.states["scripted"].alive
    assert worker.closes >= 1


def test_a_logged_traceback_names_places_but_never_a_librarys_message() -> None:
    personal = "Budi Contoh 3171010101900001"
    try:
        try:
            raise KeyError(personal)
        except KeyError as inner:
            raise CodecError("event 12 does not decode") from inner
    except CodecError as exc:
        trace = safe_trace(exc)
    assert personal not in trace
    assert "CodecError: event 12 does not decode" in trace
    assert "KeyError" in trace
    assert "test_loops.py:" in trace


def test_a_round_past_its_limit_is_aborted_from_the_watchdog_and_the_loop_goes_on() -> None:
    released = threading.Event()

    class Stuck(Scripted):
        round_limit_s = 0.2
        aborts = 0

        def step(self) -> int:
            if self.steps == 0:
                self.steps += 1
                if not released.wait(5):  # a client call that only an abort ends
                    raise AssertionError("never aborted")
                raise KafkaConnectionError("aborted")
            return super().step()

        def abort(self) -> None:
            self.aborts += 1
            released.set()

    worker = Stuck([1, 1])
    with supervising(worker, check_s=0.05):
        eventually(lambda: worker.steps >= 3)
    assert worker.aborts == 1


def test_a_periodic_worker_runs_at_start_then_once_an_interval_and_only_when_ready(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr("rujukan.core.loops.time", SimpleNamespace(monotonic=lambda: clock[0], sleep=time.sleep))
    ready = [True]
    runs: list[float] = []

    def work() -> int:
        runs.append(clock[0])
        return 3

    worker = loops.Periodic(work, interval_s=600, ready=lambda: ready[0])
    assert worker.step() == 3  # at once
    clock[0] += 599
    assert worker.step() == 0
    clock[0] += 1
    ready[0] = False
    assert worker.step() == 0  # due, but not ready
    ready[0] = True
    assert worker.step() == 3
    assert runs == [1000.0, 1600.0]
    later = loops.Periodic(lambda: 1, interval_s=10, at_start=False)
    assert later.step() == 0
    clock[0] += 10
    assert later.step() == 1
