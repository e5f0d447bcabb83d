"""The one clock of Rujukan: aware UTC datetimes. Components that keep time take a ``Clock`` so tests can
inject one; this is the default everywhere."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """Now, in UTC, timezone-aware."""
    return dt.datetime.now(dt.UTC)
