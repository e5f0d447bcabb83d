"""The writer gate of a SQLite file (rujukan.core.db.WriterGate), on real files and real processes: a
writer of another process waits at the gate, not in SQLite's busy handler; a writer that comes back
lets one that waits go first; a gate held too long, or held by a process that died, never stops a
writer (SQLite's own locking guards the data)."""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy import Engine, text

from rujukan.core import db as db_module
from rujukan.core.db import Database, make_engine

pytestmark = pytest.mark.integration

HOLDER = """
import sys
from sqlalchemy import text
from rujukan.core.db import Database, make_engine
database = Database(make_engine(sys.argv[1]))
with database.transaction() as session:
    session.connection().execute(text("INSERT INTO marks (name) VALUES ('other process')"))
    print("holding", flush=True)
    sys.stdin.readline()
print("committed", flush=True)
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    file = tmp_path / "gate.db"
    engine = make_engine(f"sqlite:///{file}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE marks (name VARCHAR(40))"))
    engine.dispose()
    return file


@pytest.fixture
def engine(path: Path) -> Iterator[Engine]:
    made = make_engine(f"sqlite:///{path}")
    yield made
    made.dispose()


def marks(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(text("SELECT name FROM marks"))]


def mark(database: Database, name: str, order: list[str] | None = None) -> None:
    with database.transaction() as session:
        session.connection().execute(text("INSERT INTO marks (name) VALUES (:name)"), {"name": name})
        if order is not None:
            order.append(name)


def someone_waits(path: Path) -> bool:
    """Whether a writer holds its share of ``<database>-waiting`` (it waits at the gate)."""
    descriptor = os.open(path.with_name(path.name + "-waiting"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)  # releases it
    return False


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_a_writer_of_another_process_waits_at_the_gate_not_in_sqlite(path: Path, engine: Engine) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, f"sqlite:///{path}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdin is not None
        assert holder.stdout is not None
        try:
            _wait_in_the_gate(path, engine, holder.stdin, holder.stdout)
        finally:
            holder.kill()
    assert sorted(marks(engine)) == ["other process", "this process"]
    assert not someone_waits(path)


def _wait_in_the_gate(path: Path, engine: Engine, stdin: IO[str], stdout: IO[str]) -> None:
    assert stdout.readline().strip() == "holding"
    writer = threading.Thread(target=mark, args=(Database(engine), "this process"))
    writer.start()
    assert wait_for(lambda: someone_waits(path)), "the writer did not wait at the gate"
    assert writer.is_alive()
    stdin.write("\n")
    stdin.flush()
    writer.join(10)
    assert not writer.is_alive()
    assert stdout.readline().strip() == "committed"


def test_a_writer_that_comes_back_lets_a_waiting_one_in_first(
    path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two Database objects: two descriptors of the gate, excluding each other as two processes do; a long
    # courtesy, so the order cannot come from the scheduler
    monkeypatch.setattr(db_module, "GATE_COURTESY_S", 0.5)
    first, second = Database(engine), Database(make_engine(f"sqlite:///{path}"))
    order: list[str] = []
    entered, release = threading.Event(), threading.Event()

    def busy() -> None:
        with first.transaction() as session:
            session.connection().execute(text("INSERT INTO marks (name) VALUES ('busy')"))
            entered.set()
            release.wait(10)
        mark(first, "busy again", order)  # straight back, as a group commit's next batch

    busy_writer = threading.Thread(target=busy)
    busy_writer.start()
    waiting_writer = threading.Thread(target=mark, args=(second, "waited", order))
    try:
        assert entered.wait(10)
        waiting_writer.start()
        assert wait_for(lambda: someone_waits(path))
    finally:
        release.set()
        busy_writer.join(10)
        waiting_writer.join(10)
        second.engine.dispose()
    assert order == ["waited", "busy again"]


def test_a_gate_held_too_long_lets_the_writer_go_on_to_sqlite(
    path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(db_module, "GATE_WAIT_S", 0.3)
    squatter = os.open(path.with_name(path.name + "-writer"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(squatter, fcntl.LOCK_EX)  # the gate, without SQLite's lock
    try:
        with caplog.at_level(logging.WARNING, logger="rujukan.db"):
            mark(Database(engine), "went on")
    finally:
        os.close(squatter)
    assert marks(engine) == ["went on"]
    assert "held by another writer" in caplog.text


def test_the_gate_of_a_killed_process_is_free(path: Path, engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    gate = path.with_name(path.name + "-writer")
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "d = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
            "fcntl.flock(d, fcntl.LOCK_EX)\nprint('holding', flush=True)\ntime.sleep(60)\n",
            str(gate),
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None
        try:
            assert holder.stdout.readline().strip() == "holding"
        finally:
            holder.kill()
    with caplog.at_level(logging.WARNING, logger="rujukan.db"):
        mark(Database(engine), "after the kill")
    assert marks(engine) == ["after the kill"]
    assert "held by another writer" not in caplog.text  # it had the gate: no 30 s wait, no fallback
