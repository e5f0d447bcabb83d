"""The change feed: which referrals the consumer changed, for a live stream served by another process.

The consumer writes one row per changed referral in each batch's transaction (``tracker_changes``, in
id order). An API process whose consumer runs elsewhere (``rujukan up``'s tracker worker, or a
``tracker serve`` with ``RUJUKAN_CONSUMER_IN_PROCESS=false``) follows the table while anyone holds the
live stream, and hands the ids to its :class:`~rujukan.tracker.live.ChangeHub`, a fraction of a second
late (``FOLLOW_S``). On PostgreSQL an id can commit after a larger one: the follower reads again the last
``LOOKBACK`` ids and skips what it already sent, so such a row arrives late, not never. SQLite commits one
writer at a time, so its ids commit in order and the follower reads only the new ones. Rows older than an
hour are removed by the tracker's housekeeping.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import deque
from collections.abc import Callable

from sqlalchemy import delete, func
from sqlalchemy import select as columns
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col

from rujukan.core.db import Database
from rujukan.core.fast_sql import connection_of, insert_rows
from rujukan.tracker.models import ChangeRow

log = logging.getLogger("rujukan.tracker")
FOLLOW_S = 0.05  # a poll of the feed's new rows: an indexed read (it was 0.25 s: half the handoff latency)
LOOKBACK = 1000
KEEP = dt.timedelta(hours=1)
CHANGES = ChangeRow.__table__  # type: ignore[attr-defined]


def record_changes(session: Session, referral_ids: list[str], now: dt.datetime) -> None:
    """In the consumer's batch transaction: these referrals changed."""
    if not referral_ids:
        return
    insert_rows(connection_of(session), CHANGES, [{"referral_id": r, "changed_at": now} for r in referral_ids])


def prune(db: Database, now: dt.datetime) -> int:
    """Forget changes older than ``KEEP``; how many rows went."""
    with db.transaction() as session:
        return int(session.execute(delete(ChangeRow).where(col(ChangeRow.changed_at) < now - KEEP)).rowcount)  # type: ignore[attr-defined]


class ChangeFollower:
    """Follows the feed on a thread of its own while ``wanted()`` (someone holds the stream), handing each
    batch of new referral ids to ``publish``; starts at the feed's end (the stream tells what changes from
    now on)."""

    def __init__(self, db: Database, publish: Callable[[list[str]], None], wanted: Callable[[], bool]) -> None:
        self._db, self._publish, self._wanted = db, publish, wanted
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tracker-change-feed", daemon=True)
        self._cursor: int | None = None
        self._sent: deque[int] = deque(maxlen=LOOKBACK)
        self._sent_set: set[int] = set()
        self._lookback = LOOKBACK if db.engine.dialect.name == "postgresql" else 0

    def start(self) -> ChangeFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(FOLLOW_S):
            if not self._wanted():
                self._cursor = None  # nobody listens: start at the end again when someone does
                continue
            try:
                self.poll()
            except SQLAlchemyError as exc:
                if not failing:
                    log.warning("the live stream cannot read the change feed (%s); trying again", type(exc).__name__)
                failing = True
                continue
            if failing:
                log.info("the live stream reads the change feed again")
            failing = False

    def poll(self) -> list[str]:
        """Hand over the ids that arrived since the last poll (none the first time: that sets the start)."""
        starting = self._cursor is None
        with self._db.read() as session:
            if self._cursor is None:
                self._cursor = int(session.execute(columns(func.coalesce(func.max(CHANGES.c.id), 0))).scalar_one())
            rows = session.execute(
                columns(CHANGES.c.id, CHANGES.c.referral_id)
                .where(CHANGES.c.id > self._cursor - self._lookback)
                .order_by(CHANGES.c.id)
            ).all()
        fresh = [(int(row_id), str(referral_id)) for row_id, referral_id in rows if row_id not in self._sent_set]
        for row_id, _ in fresh:
            self._remember(row_id)
        if starting:
            return []  # what is there already was before the listener came: only marked as sent
        ids = list(dict.fromkeys(referral_id for _, referral_id in fresh))
        if ids:
            self._publish(ids)
        return ids

    def _remember(self, row_id: int) -> None:
        if len(self._sent) == self._sent.maxlen:
            self._sent_set.discard(self._sent[0])
        self._sent.append(row_id)
        self._sent_set.add(row_id)
        self._cursor = max(self._cursor or 0, row_id)
