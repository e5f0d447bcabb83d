"""Group commit on real databases: units handed in while the writer is busy share one transaction; each
caller is answered only once its work is committed (another connection sees it); a unit that fails
takes only its own writes back; a commit that fails fails every unit of the batch and writes none; a
concurrent twin's IntegrityError gets one more try."""

from __future__ import annotations

import contextvars
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from rujukan.core.db import Database, make_engine
from rujukan.core.group_commit import GroupCommit
from tests.databases import BACKENDS, database_url

pytestmark = pytest.mark.integration


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with database_url(request.param, tmp_path) as url:
        made = make_engine(url)
        with made.begin() as connection:
            connection.execute(text("CREATE TABLE parents (id VARCHAR(40) PRIMARY KEY)"))
            connection.execute(
                text(
                    "CREATE TABLE children (id VARCHAR(40) PRIMARY KEY, parent_id VARCHAR(40) "
                    "REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED)"
                )
            )
        yield made
        made.dispose()


def insert_parent(name: str) -> Callable[[Session], str]:
    def unit(session: Session) -> str:
        session.connection().execute(text("INSERT INTO parents (id) VALUES (:id)"), {"id": name})
        return name

    return unit


def count(engine: Engine, table: str, name: str) -> int:
    with engine.connect() as connection:  # another connection: sees only what is committed
        return int(connection.execute(text(f"SELECT count(*) FROM {table} WHERE id = :id"), {"id": name}).scalar_one())


def batches(writer: str) -> tuple[float, float]:
    labels = {"writer": writer}
    found = REGISTRY.get_sample_value("rujukan_group_commit_batch_units_count", labels) or 0.0
    units = REGISTRY.get_sample_value("rujukan_group_commit_batch_units_sum", labels) or 0.0
    return found, units


def test_units_handed_in_while_the_writer_is_busy_share_a_commit_and_are_answered_after_it(engine: Engine) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    writer = GroupCommit(Database(engine), name=name)
    started, release = threading.Event(), threading.Event()

    def slow(session: Session) -> str:
        started.set()
        assert release.wait(10)
        return "first"

    try:
        first = writer.submit(slow)
        assert started.wait(10)
        names = [f"p-{uuid.uuid4().hex[:8]}" for _ in range(5)]
        queued = [writer.submit(insert_parent(n)) for n in names]
        release.set()
        assert first.result(10) == "first"
        for future, parent in zip(queued, names, strict=True):
            assert future.result(10) == parent
            assert count(engine, "parents", parent) == 1  # committed before its caller heard of it
        assert batches(name) == (2.0, 6.0)  # the slow one alone, then the five together
    finally:
        writer.close()


def test_a_failing_unit_takes_back_only_its_own_writes(engine: Engine) -> None:
    writer = GroupCommit(Database(engine), name=f"test-{uuid.uuid4().hex[:8]}")
    kept, lost = f"kept-{uuid.uuid4().hex[:8]}", f"lost-{uuid.uuid4().hex[:8]}"

    def fails_after_writing(session: Session) -> None:
        insert_parent(lost)(session)
        raise ValueError("a domain rule said no")

    try:
        blocked = threading.Event()
        writer.submit(lambda session: blocked.wait(10))  # holds the writer so that the next two share a batch
        failing = writer.submit(fails_after_writing)
        good = writer.submit(insert_parent(kept))
        blocked.set()
        with pytest.raises(ValueError, match="a domain rule said no"):
            failing.result(10)
        assert good.result(10) == kept
        assert (count(engine, "parents", kept), count(engine, "parents", lost)) == (1, 0)
    finally:
        writer.close()


def test_a_commit_that_fails_fails_every_unit_of_the_batch_and_writes_none(engine: Engine) -> None:
    writer = GroupCommit(Database(engine), name=f"test-{uuid.uuid4().hex[:8]}")
    orphan, bystander = f"orphan-{uuid.uuid4().hex[:8]}", f"bystander-{uuid.uuid4().hex[:8]}"

    def orphan_child(session: Session) -> str:  # its parent is missing: only the commit finds out (deferred)
        session.connection().execute(
            text("INSERT INTO children (id, parent_id) VALUES (:id, 'nobody')"), {"id": orphan}
        )
        return orphan

    try:
        blocked = threading.Event()
        writer.submit(lambda session: blocked.wait(10))
        futures = [writer.submit(orphan_child), writer.submit(insert_parent(bystander))]
        blocked.set()
        for future in futures:
            with pytest.raises(IntegrityError):
                future.result(10)
        assert (count(engine, "children", orphan), count(engine, "parents", bystander)) == (0, 0)
        again = f"after-{uuid.uuid4().hex[:8]}"
        assert writer.run(insert_parent(again)) == again  # the writer goes on
    finally:
        writer.close()


def test_an_integrity_error_gets_one_more_try(engine: Engine) -> None:
    """As a create whose twin (same idempotency key) committed first: the second try finds it."""
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer: no twin can commit inside another's write transaction")
    writer = GroupCommit(Database(engine), name=f"test-{uuid.uuid4().hex[:8]}")
    name = f"twin-{uuid.uuid4().hex[:8]}"
    tries: list[str] = []

    def create_or_find(session: Session) -> str:
        connection = session.connection()
        found = connection.execute(text("SELECT id FROM parents WHERE id = :id"), {"id": name}).first()
        if found is not None:
            tries.append("found")
            return "found"
        tries.append("insert")
        if len(tries) == 1:  # the twin commits between our read and our insert
            with engine.begin() as twin:
                twin.execute(text("INSERT INTO parents (id) VALUES (:id)"), {"id": name})
        connection.execute(text("INSERT INTO parents (id) VALUES (:id)"), {"id": name})
        return "inserted"

    try:
        assert writer.run(create_or_find) == "found"
        assert tries == ["insert", "found"]
    finally:
        writer.close()


def test_a_unit_cannot_wait_for_another_one(engine: Engine) -> None:
    writer = GroupCommit(Database(engine), name=f"test-{uuid.uuid4().hex[:8]}")
    try:
        with pytest.raises(RuntimeError, match="cannot wait"):
            writer.run(lambda session: writer.run(lambda inner: 1))
    finally:
        writer.close()


WHO: contextvars.ContextVar[str | None] = contextvars.ContextVar("who", default=None)


def test_each_unit_of_a_batch_sees_its_own_submitters_context(engine: Engine) -> None:
    """Units from five callers, each with its own context value (who is acting), run in one batch on the
    writer thread: each sees its caller's value, a retried unit too, and none leaks into the next."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    writer = GroupCommit(Database(engine), name=name)
    release = threading.Event()
    tried: dict[str, int] = {}

    def sees(parent: str) -> Callable[[Session], str | None]:
        def unit(session: Session) -> str | None:
            tried[parent] = tried.get(parent, 0) + 1
            if parent == "p-2" and tried[parent] == 1:
                raise IntegrityError("a concurrent twin", None, Exception())  # tried once more, same context
            return WHO.get()

        return unit

    def submit_as(who: str | None, parent: str) -> Future[str | None]:
        WHO.set(who)
        return writer.submit(sees(parent))

    try:
        started = threading.Event()

        def hold(session: Session) -> bool:
            started.set()
            return release.wait(10)

        writer.submit(hold)  # holds the writer: the next five share a batch
        assert started.wait(10)
        callers = [f"stf_{i:016x}" if i != 3 else None for i in range(5)]
        futures = [contextvars.copy_context().run(submit_as, who, f"p-{i}") for i, who in enumerate(callers)]
        release.set()
        assert [f.result(10) for f in futures] == callers
        assert tried["p-2"] == 2
        assert writer.submit(lambda session: WHO.get()).result(10) is None  # this thread never set it
    finally:
        writer.close()
    assert batches(name) == (3.0, 7.0)  # the holder, the five together, the last
