"""How every Rujukan process writes its log lines (the CLI configures the console in rujukan.cli.output;
helper processes it starts, which inherit no logging, use :func:`helper_logging`)."""

from __future__ import annotations

import logging

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class NotASlowTask(logging.Filter):
    """kafka-python warns that one of its tasks "is blocking the event loop" whenever its thread waited for
    the interpreter lock, which on a busy process is every few seconds and says nothing to act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "blocking the event loop" not in str(record.msg)


def helper_logging() -> None:
    """A helper process's lines on stderr as its parent writes them, warnings and errors only."""
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    logging.getLogger("kafka").addFilter(NotASlowTask())
