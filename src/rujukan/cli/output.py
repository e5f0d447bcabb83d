"""How the CLI talks to people: messages on stderr, data on stdout."""

from __future__ import annotations

import logging
from typing import NoReturn

import typer
from rich.console import Console

err = Console(stderr=True, highlight=False)


def report_error(message: str) -> None:
    err.print("[bold red]error:[/] ", end="", markup=True)
    err.print(message, markup=False, soft_wrap=True)


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Inside a command: report and exit with ``code``."""
    report_error(message)
    raise typer.Exit(code)


def configure_logging() -> None:
    """Service logs on stderr; kafka-python's and the HTTP client's chatter only from warnings up."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line per webhook attempt is the delivery log's job
