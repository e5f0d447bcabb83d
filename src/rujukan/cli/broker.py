"""``rujukan broker``: the embedded Kafka-compatible broker in the foreground."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from rujukan.cli.output import err, fail
from rujukan.core.broker import EmbeddedBroker

POLL_S = 0.5


def run_broker(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Kafka port to listen on (0 picks a free one).", min=0, max=65535)] = 9092,
) -> None:
    """Run the embedded broker (in memory: everything is lost when it stops). Ctrl-C stops it."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    broker = EmbeddedBroker(host=host, port=port)
    try:
        broker.start()
        err.print(f"embedded broker listening on {broker.bootstrap} (pid {broker.pid}); Ctrl-C stops it", markup=False)
        while not stop.wait(POLL_S):
            if not broker.is_running():
                fail(f"embedded broker exited unexpectedly (log: {broker.log_path})")
    finally:
        broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    err.print("embedded broker stopped", markup=False)
