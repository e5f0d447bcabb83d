"""Fixtures of the system tests (``rujukan up`` as a subprocess)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def reachable_dir() -> Iterator[Path]:
    """A directory the PostgreSQL server user can reach when the tests run as root (pytest's own temporary
    directories are private to root)."""
    with tempfile.TemporaryDirectory(prefix="rujukan-test-up-") as scratch:
        Path(scratch).chmod(0o711)
        yield Path(scratch)
