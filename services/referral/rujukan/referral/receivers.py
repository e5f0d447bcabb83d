"""Each receiver's record per service type, for matching: how many of its referrals it accepted and
rejected, and the median time from a referral to its acceptance, over the last ``WINDOW``.

The referral service holds these facts itself (its referrals and their events), so matching needs no
other service. They are read at most once a ``TTL_S`` per process, in the background once there is a first
set: a record that is a minute old ranks as well as a fresh one.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
import threading
import time
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from rujukan.referral.context import ReferralContext
from rujukan.referral.matching import Figures
from rujukan.referral.models import Referral, ReferralEvent

log = logging.getLogger("rujukan.directory")
WINDOW = dt.timedelta(days=180)
TTL_S = 60.0


def read_figures(ctx: ReferralContext) -> dict[tuple[str, str], Figures]:
    """Rejections are counted by the database per (receiver, service type); acceptances come back with
    their times, for the median (SQLite has no percentile), and are counted from them. Uses
    ``ix_referral_events_type_occurred``."""
    since = ctx.clock() - WINDOW
    referrals, events = Referral.__table__, ReferralEvent.__table__  # type: ignore[attr-defined]
    joined = events.join(referrals, referrals.c.id == events.c.referral_id)
    rejections = (
        select(referrals.c.to_agency, referrals.c.service_type, func.count())
        .select_from(joined)
        .where(events.c.event_type == "ReferralRejected", events.c.occurred_at >= since)
        .group_by(referrals.c.to_agency, referrals.c.service_type)
    )
    acceptances = (
        select(referrals.c.to_agency, referrals.c.service_type, referrals.c.created_at, events.c.occurred_at)
        .select_from(joined)
        .where(events.c.event_type == "ReferralAccepted", events.c.occurred_at >= since)
    )
    rejected: dict[tuple[str, str], int] = defaultdict(int)
    hours: dict[tuple[str, str], list[float]] = defaultdict(list)
    with ctx.read() as session:
        for agency, service, count in session.execute(rejections):
            rejected[(str(agency), str(service))] = int(count)
        for agency, service, created, occurred in session.execute(acceptances):
            hours[(str(agency), str(service))].append(max((occurred - created).total_seconds(), 0.0) / 3600)
    return {
        key: Figures(
            accepted=len(hours[key]),
            rejected=rejected[key],
            median_hours_to_accept=statistics.median(hours[key]) if hours[key] else None,
        )
        for key in set(hours) | set(rejected)
    }


class ReceiverFigures:
    """``read_figures``, remembered for ``TTL_S``. The first read waits for them; later, a stale set is
    answered while one background thread reads the next (a match never waits for a refresh)."""

    def __init__(self, *, ttl_s: float = TTL_S) -> None:
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._refreshing = False
        self._found: dict[tuple[str, str], Figures] = {}

    def get(self, ctx: ReferralContext) -> dict[tuple[str, str], Figures]:
        with self._lock:
            if self._read_at is None:
                self._found, self._read_at = read_figures(ctx), time.monotonic()
            elif time.monotonic() - self._read_at >= self._ttl_s and not self._refreshing:
                self._refreshing = True
                threading.Thread(target=self._refresh, args=(ctx,), name="receiver-figures", daemon=True).start()
            return self._found

    def _refresh(self, ctx: ReferralContext) -> None:
        try:
            found = read_figures(ctx)
        except SQLAlchemyError:  # the database is away: the old figures stand, the next match tries again
            log.warning("receiver figures: refresh failed; the previous ones stand", exc_info=False)
            found = None
        with self._lock:
            if found is not None:
                self._found, self._read_at = found, time.monotonic()
            self._refreshing = False
