"""Whether a process is gone, for tests that check nothing survives a stop."""

from __future__ import annotations

import os
from pathlib import Path


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:  # reaped between the signal and the read
        return True
    return "State:\tZ" in status
