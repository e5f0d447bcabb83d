"""``rujukan up``'s worker processes: the background loops that would otherwise share the API's core.

``up`` serves every API (and the tracker's consumer, whose changes feed the dashboard's live stream) in
its own process, and runs two workers beside it, each a child process of its own:

- ``relay``: the referral service's loops (the relay, the checkpoint and disclosure outboxes,
  housekeeping);
- ``tracker``: the tracker's consumer, SLA sweep, breach publisher and housekeeping (the dashboard's live
  stream in ``up``'s process follows the change feed the consumer writes);
- ``notifier``: the notifier's consumers, dispatcher, dead letters and secret housekeeping.

A worker finds the broker and the databases in the data dir's ``running.json``, like any other command
given ``--data-dir``. Every second it writes a heartbeat, ``<data dir>/run/<worker>.json``: its loops'
readiness checks (named as in ``/readyz``) and the Prometheus exposition of its metrics; ``up``'s
``/readyz`` and ``/metrics`` join them with its own, and report a worker whose heartbeat is older than a
few seconds as not answering. ``up`` restarts a worker that exits; a worker exits when ``up`` is gone.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from rujukan.cli.data_dir import (
    DataDir,
    notifier_database,
    notifier_settings,
    referral_context,
    referral_settings,
    tracker_database,
    tracker_settings,
)
from rujukan.cli.foreground import until_stopped
from rujukan.cli.output import configure_logging
from rujukan.cli.system import local_webhooks
from rujukan.core.health import Readiness
from rujukan.core.loops import Supervisor
from rujukan.core.metrics import exposition
from rujukan.notifier.service import CONSUMER_LOOPS, Notifier
from rujukan.referral.relay import referral_loops
from rujukan.referral.transparency import refused_alarm
from rujukan.tracker.loops import CONSUMER_LOOP, DIRECTORY_LOOP, tracker_loops

log = logging.getLogger("rujukan.up")
HEARTBEAT_S = 1.0
STALE_S = 5.0  # a heartbeat older than this: the worker is not answering
STARTING_S = 60.0  # how long a worker that has not yet written a heartbeat counts as starting
STOP_S = 15.0
QUICK_EXIT_S = 10.0  # a worker that exits this soon after its start is restarted after a pause
MAX_PAUSE_S = 30.0


class Role(StrEnum):
    RELAY = "relay"
    TRACKER = "tracker"
    NOTIFIER = "notifier"


SERVICE_OF = {Role.RELAY: "referral", Role.TRACKER: "tracker", Role.NOTIFIER: "notifier"}  # <service>.<loop>


def heartbeat_path(data: Path, role: Role) -> Path:
    return data / "run" / f"{role.value}.json"


@dataclass
class WorkerProcess:
    """One worker as ``up``'s supervisor sees a child: started, stopped, checked (like the broker)."""

    role: Role
    data: Path
    env: dict[str, str] = field(default_factory=dict)  # settings of this worker only (the demo's SLA clocks)
    process: subprocess.Popen[bytes] | None = None
    started_at: float = field(default=0.0)
    quick_exits: int = 0  # exits in a row, each within QUICK_EXIT_S of its start
    exited_at: float | None = None  # when the supervisor first saw it gone
    retired: bool = False  # up is stopping: never started again
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # start and stop take turns

    def restart_due(self, now: float) -> bool:
        """Whether the supervisor may start it again now (it is not running): at once after a worker that
        ran a while, after a growing pause (1, 2, 4 ... 30 s) after one that keeps exiting right after its
        start (a key file that does not open, a database that refuses it), so that it does not spin."""
        if self.retired:
            return False
        if self.process is None:
            return True
        if self.exited_at is None:
            self.exited_at = now
        quick = self.exited_at - self.started_at < QUICK_EXIT_S
        pause = min(2.0**self.quick_exits, MAX_PAUSE_S) if quick else 0.0
        return now - self.exited_at >= pause

    def exit_status(self) -> str:
        code = self.process.returncode if self.process is not None else None
        if code is None:
            return "never started" if self.process is None else "running"
        return f"killed by signal {-code}" if code < 0 else f"exit status {code}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def count_exit(self) -> None:
        """Before a restart: one more quick exit in a row, or none when the last run lasted."""
        if self.process is not None and self.exited_at is not None:
            quick = self.exited_at - self.started_at < QUICK_EXIT_S
            self.quick_exits = self.quick_exits + 1 if quick else 0
        self.exited_at = None

    def start(self) -> None:
        with self._lock:
            if self.retired:
                return
            self.count_exit()
            heartbeat_path(self.data, self.role).unlink(missing_ok=True)
            self.process = subprocess.Popen(  # noqa: S603 - our own program, fixed arguments
                [sys.executable, "-m", "rujukan.cli.main", "worker", self.role.value, "--data-dir", str(self.data)],
                env={**os.environ, **self.env, PARENT: str(os.getpid())},
                stdin=subprocess.DEVNULL,
            )
            self.started_at = time.monotonic()

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop it for good (the supervisor does not start it again)."""
        with self._lock:
            self.retired = True
            process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_S)
        except subprocess.TimeoutExpired:
            log.warning("the %s worker did not stop within %.0f s; killing it", self.role.value, STOP_S)
            process.kill()
            process.wait(5)

    def checks(self) -> dict[str, str]:
        """Its loops' readiness checks from its heartbeat, or why there are none."""
        name = f"{SERVICE_OF[self.role]}.worker"
        if not self.is_running():
            return {name: "not running (rujukan up starts it again)"}
        beat = read_heartbeat(self.data, self.role)
        if beat is None:
            waited = time.monotonic() - self.started_at
            return {name: "starting" if waited < STARTING_S else f"no heartbeat {waited:.0f} s after its start"}
        silent = time.time() - float(str(beat.get("written_at", 0)))
        if silent > STALE_S:
            return {name: f"not answering (last heartbeat {silent:.0f} s ago)"}
        checks = beat.get("checks")
        return {name: "ok", **({str(k): str(v) for k, v in checks.items()} if isinstance(checks, dict) else {})}

    def metrics(self) -> str:
        beat = read_heartbeat(self.data, self.role) if self.is_running() else None
        return str(beat.get("metrics", "")) if beat else ""


PARENT = "RUJUKAN_WORKER_PARENT"  # the pid of the ``up`` that started the worker


def read_heartbeat(data: Path, role: Role) -> dict[str, object] | None:
    try:
        found = json.loads(heartbeat_path(data, role).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def write_heartbeat(path: Path, checks: dict[str, str]) -> None:
    """Atomically: a reader sees the previous heartbeat or this one, never half of one."""
    body, _ = exposition()
    beat = {"pid": os.getpid(), "written_at": time.time(), "checks": checks, "metrics": body.decode()}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(beat), encoding="utf-8")
    os.replace(temporary, path)


# -- the worker process ------------------------------------------------------------------------------------
@contextmanager
def _loops(role: Role, data: Path | None) -> Iterator[tuple[Supervisor, Readiness]]:
    with ExitStack() as stack:
        if role is Role.RELAY:
            ctx = stack.enter_context(referral_context(data))
            loops = referral_loops(ctx, referral_settings(data))
            readiness = Readiness(supervisor=loops, alarms={"event_store": lambda: refused_alarm(ctx)})
        elif role is Role.TRACKER:
            db = stack.enter_context(tracker_database(data))
            loops = tracker_loops(db, tracker_settings(data))
            readiness = Readiness(supervisor=loops, consumers=frozenset({CONSUMER_LOOP, DIRECTORY_LOOP}))
        else:
            db = stack.enter_context(notifier_database(data))
            loops = Notifier(db, local_webhooks(notifier_settings(data))).supervisor()
            readiness = Readiness(supervisor=loops, consumers=frozenset(CONSUMER_LOOPS))
        yield loops, readiness


def worker(
    role: Annotated[Role, typer.Argument(help="Which loops to run.")],
    data_dir: DataDir = None,
) -> None:
    """One of rujukan up's worker processes (started by rujukan up; see rujukan.cli.workers)."""
    data = (data_dir or referral_settings(None).data_dir).resolve()
    configure_logging(kafka_log=data / "kafka-clients.log")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # as in up: migrations are up's to report
    parent = int(os.environ.get(PARENT, "0")) or None
    with until_stopped() as stop, _loops(role, data) as (loops, readiness):
        loops.start()
        path, service = heartbeat_path(data, role), SERVICE_OF[role]
        try:
            while not stop.is_set():
                write_heartbeat(path, {f"{service}.{k}": v for k, v in readiness.checks().items()})
                if _orphaned(parent):
                    log.warning("the %s worker's rujukan up is gone; stopping", role.value)
                    break
                stop.wait(HEARTBEAT_S)
        finally:
            loops.stop()
            path.unlink(missing_ok=True)


def _orphaned(parent: int | None, getppid: Callable[[], int] = os.getppid) -> bool:
    return parent is not None and getppid() != parent
