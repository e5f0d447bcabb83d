"""One supervisor for every background loop: the relay and the other outbox publishers, the consumers,
the SLA sweep, the webhook dispatcher.

A loop is a :class:`Worker`: ``step()`` does one round and says how much it did (0: nothing to do),
``close()`` releases its clients (the next ``step`` makes fresh ones), ``backlog()`` says how much work
waits for it (None when it cannot tell) and ``idle(seconds)`` waits for more. The supervisor runs each
worker on a thread of its own with one failure policy:

- an expected, transient error (Kafka or the network, the database unavailable, a row another consumer
  wrote first) backs off (0.2 s doubling to 5 s) and tries again; from the third in a row on, the
  worker's clients are rebuilt before each try;
- any other error is logged with a traceback that names files, lines and functions but no values (the
  message only of Rujukan's own errors, which are safe to show), counted as a restart, and the worker's
  clients are rebuilt after the back-off;
- a loop never ends while the supervisor runs.

A watchdog measures every loop's backlog every ``check_s``: one that has had work waiting (backlog > 0)
for ``stall_s`` without making progress in that time is rebuilt, which heals a client stuck in a state it
will not leave by itself (the double broker restart of docs/embedded-broker.md). Every second it also
looks for a round that runs longer than its worker's ``round_limit_s`` (an :class:`Abortable` worker) and
aborts it from its own thread: a Kafka consumer whose group join the broker never answers blocks its
``poll`` far beyond its timeout. Any other round that has not returned for ``HUNG_S`` is reported as
hung: a Python thread cannot be stopped from outside, so this is said, not hidden.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, cast

from kafka.errors import KafkaError
from sqlalchemy.exc import IntegrityError, OperationalError

from rujukan.core import metrics
from rujukan.core.errors import safe_text, safe_trace

log = logging.getLogger("rujukan.loops")
TRANSIENT: tuple[type[BaseException], ...] = (KafkaError, OSError, OperationalError, IntegrityError)
BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)
REBUILD_AFTER = 3  # consecutive transient failures
STALL_S = 30.0
HUNG_S = 120.0
CHECK_S = 5.0
TICK_S = 1.0


class Worker(Protocol):
    def step(self) -> int: ...

    def close(self) -> None: ...

    def backlog(self) -> int | None: ...

    def idle(self) -> None: ...


class Abortable(Protocol):
    """A worker whose round can be cut short from another thread when it has run for ``round_limit_s``
    (a Kafka client waiting for a broker that will never answer)."""

    round_limit_s: float

    def abort(self) -> None: ...


@dataclass
class LoopState:
    """What the supervisor knows of one loop; read by readiness and metrics (plain values, no lock)."""

    name: str
    started: float = field(default_factory=time.monotonic)
    last_progress: float = field(default_factory=time.monotonic)
    step_began: float | None = None  # while a round runs
    failing_since: float | None = None
    error: str | None = None  # class name of the last error while failing
    restarts: int = 0
    backlog: int | None = None  # as last seen by the watchdog
    probe_failing_since: float | None = None  # the watchdog could not measure the backlog since
    waiting_since: float | None = None  # work has been waiting (backlog > 0) since
    alive: bool = True
    rebuild: bool = False  # asked by the watchdog; done by the loop's own thread
    aborted: float | None = None  # the start of the round the watchdog aborted last

    def problem(self, now: float, *, grace_s: float) -> str | None:
        """Why this loop is not healthy now, or None."""
        if not self.alive:
            return "stopped"
        if self.step_began is not None and now - self.step_began > HUNG_S:
            return f"hung for {now - self.step_began:.0f} s"
        if self.failing_since is not None and now - self.failing_since > grace_s:
            return f"failing for {now - self.failing_since:.0f} s ({self.error})"
        return None


class Supervisor:
    """Runs workers by name until ``stop``; ``states`` for readiness and metrics."""

    def __init__(self, *, stall_s: float = STALL_S, check_s: float = CHECK_S) -> None:
        self._workers: dict[str, Worker] = {}
        self.states: dict[str, LoopState] = {}
        self._stall_s = stall_s
        self._check_s = check_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def add(self, name: str, worker: Worker) -> Supervisor:
        self._workers[name] = worker
        self.states[name] = LoopState(name)
        return self

    def start(self) -> Supervisor:
        for name, worker in self._workers.items():
            self._spawn(f"loop-{name}", self._run, name, worker)
        if self._workers:
            self._spawn("loop-watchdog", self._watchdog)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    # -- one loop ------------------------------------------------------------------------------------------
    def _run(self, name: str, worker: Worker) -> None:
        state = self.states[name]
        failures = 0
        try:
            while not self._stop.is_set():
                if state.rebuild:
                    state.rebuild = False
                    _close(name, worker)
                failures = self._round(name, worker, state, failures)
        finally:
            _close(name, worker)
            state.alive = False
            log.info("%s stopped", name)

    def _round(self, name: str, worker: Worker, state: LoopState, failures: int) -> int:
        """One step and what follows it; the number of consecutive failures after it."""
        state.step_began = time.monotonic()
        try:
            did = worker.step()
        except TRANSIENT as exc:
            return self._failed(name, worker, state, failures, exc, expected=True)
        except Exception as exc:  # the failure policy's other half: log, count, rebuild, go on
            return self._failed(name, worker, state, failures, exc, expected=False)
        finally:
            state.step_began = None
        now = time.monotonic()
        if state.failing_since is not None:
            log.info("%s works again after %.0f s", name, now - state.failing_since)
        state.failing_since, state.error = None, None
        if did > 0:
            state.last_progress = now
        else:
            worker.idle()
        return 0

    def _failed(
        self, name: str, worker: Worker, state: LoopState, failures: int, exc: BaseException, *, expected: bool
    ) -> int:
        failures += 1
        state.error = type(exc).__name__
        if state.failing_since is None:
            state.failing_since = time.monotonic()
        if expected:
            if failures == 1 or failures % 20 == 0:
                log.warning("%s: %s; backing off and trying again (%d in a row)", name, safe_text(exc), failures)
            if failures >= REBUILD_AFTER:
                _close(name, worker)
        else:
            log.error("%s: unexpected %s; restarting it with fresh clients\n%s", name, state.error, safe_trace(exc))
            state.restarts += 1
            metrics.LOOP_RESTARTS.labels(loop=name).inc()
            _close(name, worker)
        self._stop.wait(BACKOFF_S[min(failures, len(BACKOFF_S)) - 1])
        return failures

    # -- the watchdog --------------------------------------------------------------------------------------
    def _watchdog(self) -> None:
        measured = time.monotonic()
        while not self._stop.wait(min(TICK_S, self._check_s)):
            for name, worker in self._workers.items():
                self._cut_short(name, worker, self.states[name])
            if time.monotonic() - measured >= self._check_s:
                measured = time.monotonic()
                for name, worker in self._workers.items():
                    self._look_at(name, worker, self.states[name])

    def _cut_short(self, name: str, worker: Worker, state: LoopState) -> None:
        limit = getattr(worker, "round_limit_s", None)
        began, now = state.step_began, time.monotonic()
        if limit is not None and began is not None and now - began > limit and state.aborted != began:
            log.warning("%s: one round has not returned for %.0f s; aborting it", name, now - began)
            state.aborted = began
            cast(Abortable, worker).abort()

    def _look_at(self, name: str, worker: Worker, state: LoopState) -> None:
        now = time.monotonic()
        try:
            state.backlog = worker.backlog()
            state.probe_failing_since = None
        except Exception as exc:  # readiness reports a probe failing for long; the loop's own errors the rest
            log.debug("%s: backlog unknown (%s)", name, type(exc).__name__)
            state.backlog = None
            state.probe_failing_since = state.probe_failing_since or now
        if state.step_began is not None and now - state.step_began > HUNG_S:
            log.error("%s: one round has not returned for %.0f s; the loop is hung", name, now - state.step_began)
            return
        waiting = state.backlog is not None and state.backlog > 0
        state.waiting_since = (state.waiting_since or now) if waiting else None
        quiet_s = now - max(state.waiting_since or now, state.last_progress)  # waiting, and no progress since
        if waiting and state.failing_since is None and quiet_s > self._stall_s and not state.rebuild:
            log.warning(
                "%s: no progress for %.0f s with %s waiting; rebuilding its clients", name, quiet_s, state.backlog
            )
            state.rebuild = True
            state.restarts += 1
            state.last_progress = now  # give the rebuilt loop its own time
            metrics.LOOP_RESTARTS.labels(loop=name).inc()


class Periodic:
    """A worker that does ``work`` every ``interval_s`` seconds (the first time at once, unless
    ``at_start`` is false) when ``ready`` says so; it holds no clients and reports no backlog."""

    def __init__(
        self,
        work: Callable[[], int],
        *,
        interval_s: float,
        at_start: bool = True,
        ready: Callable[[], bool] = lambda: True,
        idle_s: float = 1.0,
    ) -> None:
        self._work, self._interval_s, self._ready, self._idle_s = work, interval_s, ready, idle_s
        self._last: float | None = None if at_start else time.monotonic()

    def step(self) -> int:
        now = time.monotonic()
        if (self._last is not None and now - self._last < self._interval_s) or not self._ready():
            return 0
        self._last = now
        return self._work()

    def idle(self) -> None:
        time.sleep(self._idle_s)

    def backlog(self) -> int | None:
        return None

    def close(self) -> None:
        return None


def _close(name: str, worker: Worker) -> None:
    try:
        worker.close()
    except Exception as exc:  # closing a broken client may fail too; the next step makes new ones
        log.debug("%s: closing its clients failed (%s)", name, type(exc).__name__)


def run_until(stop: threading.Event, workers: dict[str, Worker]) -> None:
    """Run ``workers`` under a supervisor of their own until ``stop`` is set (single-loop commands, tests)."""
    supervisor = Supervisor()
    for name, worker in workers.items():
        supervisor.add(name, worker)
    supervisor.start()
    try:
        stop.wait()
    finally:
        supervisor.stop()
