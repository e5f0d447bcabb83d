"""The change feed on real databases: a follower that starts late tells only what changes from then on,
in order and once; a row that commits after a larger id (PostgreSQL) still arrives; a follower without
listeners stops; old rows are pruned."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import pytest
from sqlalchemy import func, select

from rujukan.core.db import Database
from rujukan.tracker.changes import KEEP, ChangeFollower, prune, record_changes
from rujukan.tracker.models import ChangeRow

pytestmark = pytest.mark.integration


def changed(db: Database, *ids: str, at: dt.datetime | None = None) -> None:
    with db.transaction() as session:
        record_changes(session, list(ids), at or dt.datetime.now(dt.UTC))


def rows(db: Database) -> int:
    with db.read() as session:
        return int(session.execute(select(func.count()).select_from(ChangeRow)).scalar_one())


def test_a_follower_tells_what_changes_after_it_starts_in_order_and_once(tracker_db: Database) -> None:
    before = [str(uuid.uuid4()) for _ in range(3)]
    changed(tracker_db, *before)
    heard: list[list[str]] = []
    follower = ChangeFollower(tracker_db, heard.append, wanted=lambda: True)
    assert follower.poll() == []  # the start: what was there before is not news
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    changed(tracker_db, first, second)
    changed(tracker_db, first)  # changed again before the next poll: told once
    assert follower.poll() == [first, second]
    assert follower.poll() == []
    assert heard == [[first, second]]


def test_a_row_committed_after_a_larger_id_still_arrives(tracker_db: Database) -> None:
    if tracker_db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite commits one writer at a time: ids commit in order")
    follower = ChangeFollower(tracker_db, lambda ids: None, wanted=lambda: True)
    follower.poll()
    late, early = str(uuid.uuid4()), str(uuid.uuid4())
    holding, go = threading.Event(), threading.Event()

    def slow_batch() -> None:  # takes its id first, commits last
        with tracker_db.transaction() as session:
            record_changes(session, [late], dt.datetime.now(dt.UTC))
            holding.set()
            assert go.wait(10)

    thread = threading.Thread(target=slow_batch)
    thread.start()
    assert holding.wait(10)
    changed(tracker_db, early)
    assert follower.poll() == [early]
    go.set()
    thread.join(10)
    assert follower.poll() == [late]


def test_the_follower_thread_reads_only_while_someone_listens(tracker_db: Database) -> None:
    heard: list[list[str]] = []
    listening = threading.Event()
    follower = ChangeFollower(tracker_db, heard.append, wanted=listening.is_set).start()
    try:
        changed(tracker_db, str(uuid.uuid4()))
        time.sleep(0.6)
        assert heard == []  # nobody listened
        listening.set()
        time.sleep(0.6)  # it starts at the end
        news = str(uuid.uuid4())
        changed(tracker_db, news)
        deadline = time.monotonic() + 5
        while not heard and time.monotonic() < deadline:
            time.sleep(0.05)
        assert heard == [[news]]
    finally:
        follower.stop()


def test_rows_older_than_an_hour_are_pruned(tracker_db: Database) -> None:
    now = dt.datetime.now(dt.UTC)
    changed(tracker_db, str(uuid.uuid4()), at=now - KEEP - dt.timedelta(minutes=1))
    changed(tracker_db, str(uuid.uuid4()), at=now - KEEP + dt.timedelta(minutes=1))
    assert prune(tracker_db, now) == 1
    assert rows(tracker_db) == 1
