"""How the CLI talks to people: messages on stderr, data on stdout."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import traceback
from pathlib import Path
from types import FrameType
from typing import NoReturn

import typer
from rich.console import Console

from rujukan.core.logs import LOG_FORMAT, NotASlowTask

err = Console(stderr=True, highlight=False)


def report_error(message: str) -> None:
    err.print("[bold red]error:[/] ", end="", markup=True)
    err.print(message, markup=False, soft_wrap=True)


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Inside a command: report and exit with ``code``."""
    report_error(message)
    raise typer.Exit(code)


def configure_logging(*, kafka_log: Path | None = None) -> None:
    """Service logs on stderr; kafka-python's and the HTTP client's chatter only from warnings up.

    With ``kafka_log`` (``rujukan up``), kafka-python's lines go to that file instead of the console: while
    a broker restarts it writes dozens a second, and Rujukan's own loops already say what an operator
    needs (which loop is failing, since when, and when it works again)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    signal.signal(signal.SIGUSR1, _dump_threads)  # kill -USR1 PID: every thread's name and stack on stderr
    kafka = logging.getLogger("kafka")
    kafka.setLevel(logging.WARNING)
    kafka.addFilter(NotASlowTask())
    if kafka_log is not None:
        handler = logging.FileHandler(kafka_log, encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(NotASlowTask())
        kafka.addHandler(handler)
        kafka.propagate = False
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line per webhook attempt is the delivery log's job


def _dump_threads(signum: int, frame: FrameType | None) -> None:
    """Every thread's name and stack (code locations only), for an operator asking what a process does."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    lines = ["threads of this process (kill -USR1):"]
    for ident, top in sys._current_frames().items():
        lines.append(f"-- {names.get(ident, ident)}")
        lines += [f"   {f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_stack(top)[-12:]]
    print("\n".join(lines), file=sys.stderr, flush=True)
