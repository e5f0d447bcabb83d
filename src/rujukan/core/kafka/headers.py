"""Reading the headers the relay puts on each referral event (see ``rujukan.referral.relay``).

A header is untrusted input like the value: a missing or malformed one reads as None, never an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MAX_LOG_INDEX_DIGITS = 19  # fits a signed 64-bit integer


def header(headers: Iterable[tuple[str, bytes | None]] | None, name: str) -> bytes | None:
    """The first header called ``name``, or None."""
    for key, value in headers or ():
        if key == name:
            return value
    return None


def log_index_of(record: Any) -> int | None:
    """The ``log_index`` header of a consumed record, or None when absent or malformed."""
    return log_index(getattr(record, "headers", None))


def log_index(headers: Iterable[tuple[str, bytes | None]] | None) -> int | None:
    """The ``log_index`` header (decimal ASCII), or None when absent or malformed."""
    raw = header(headers, "log_index")
    if not raw or len(raw) > MAX_LOG_INDEX_DIGITS or not raw.isdigit():
        return None
    return int(raw)
