"""When ``rujukan up`` starts a dead worker again: at once after one that ran a while, after a pause that
doubles (up to 30 s) after one that keeps dying right after its start."""

from __future__ import annotations

from pathlib import Path

from rujukan.cli.workers import MAX_PAUSE_S, QUICK_EXIT_S, Role, WorkerProcess


class Exited:
    """Stands in for a finished subprocess.Popen (only what the supervisor asks of one)."""

    def __init__(self, returncode: int) -> None:
        self.returncode = returncode
        self.pid = 4242

    def poll(self) -> int:
        return self.returncode


def died(worker: WorkerProcess, *, started: float, code: int = 1) -> None:
    worker.process = Exited(code)  # type: ignore[assignment]
    worker.started_at = started
    worker.exited_at = None


def test_a_worker_that_ran_a_while_is_started_again_at_once(tmp_path: Path) -> None:
    worker = WorkerProcess(Role.RELAY, tmp_path)
    assert worker.restart_due(now=0.0)  # never started
    died(worker, started=0.0, code=-9)
    assert worker.restart_due(now=QUICK_EXIT_S + 5)
    assert worker.exit_status() == "killed by signal 9"


def test_a_worker_that_keeps_dying_at_its_start_waits_longer_each_time(tmp_path: Path) -> None:
    worker = WorkerProcess(Role.NOTIFIER, tmp_path)
    pauses = []
    now = 100.0
    for _ in range(8):
        died(worker, started=now)
        now += 0.5  # it died half a second after its start
        seen = now
        while not worker.restart_due(now):
            now += 0.25
        pauses.append(now - seen)
        worker.count_exit()  # as start() does before it starts it again
    assert pauses == [1.0, 2.0, 4.0, 8.0, 16.0, MAX_PAUSE_S, MAX_PAUSE_S, MAX_PAUSE_S]
    assert worker.exit_status() == "exit status 1"
    died(worker, started=now)
    now += QUICK_EXIT_S + 1  # this time it ran a while
    assert worker.restart_due(now)
    worker.count_exit()
    assert worker.quick_exits == 0
