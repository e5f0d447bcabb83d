"""Commands that run in the foreground until Ctrl-C or SIGTERM: the signals set an event, and the
handlers that were there before are put back when the command ends."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rujukan.cli.output import err, fail
from rujukan.core.broker import Broker

POLL_S = 0.5


@contextmanager
def until_stopped() -> Iterator[threading.Event]:
    """An event that Ctrl-C (SIGINT) or SIGTERM sets, for the block."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_broker_until_stopped(broker: Broker, *, name: str, logs: str) -> None:
    """Start ``broker``, say where it listens, and keep it until stopped; a broker that exits on its own is
    a message naming its ``logs`` and exit 1."""
    with until_stopped() as stop:
        try:
            broker.start()
            err.print(f"{name} listening on {broker.bootstrap} (pid {broker.pid}); Ctrl-C stops it", markup=False)
            while not stop.wait(POLL_S):
                if not broker.is_running():
                    fail(f"{name} exited unexpectedly (logs: {logs})")
        finally:
            broker.stop()
    err.print(f"{name} stopped", markup=False)
