"""Each receiver's record per service type, for matching: how many of its referrals it accepted and
rejected, and the median time from a referral to its acceptance, over the last ``WINDOW``.

The referral service holds these facts itself (its referrals and their events), so matching needs no
other service. They are read at most once a ``TTL_S`` per process: a record that is a minute old ranks as
well as a fresh one.
"""

from __future__ import annotations

import datetime as dt
import statistics
import threading
import time
from collections import defaultdict

from sqlalchemy import select

from rujukan.referral.context import ReferralContext
from rujukan.referral.matching import Figures
from rujukan.referral.models import Referral, ReferralEvent

WINDOW = dt.timedelta(days=180)
TTL_S = 60.0
DECISIONS = ("ReferralAccepted", "ReferralRejected")


def read_figures(ctx: ReferralContext) -> dict[tuple[str, str], Figures]:
    since = ctx.clock() - WINDOW
    referrals, events = Referral.__table__, ReferralEvent.__table__  # type: ignore[attr-defined]
    query = (
        select(
            referrals.c.to_agency,
            referrals.c.service_type,
            events.c.event_type,
            referrals.c.created_at,
            events.c.occurred_at,
        )
        .join(referrals, referrals.c.id == events.c.referral_id)
        .where(events.c.event_type.in_(DECISIONS), events.c.occurred_at >= since)
    )
    accepted: dict[tuple[str, str], int] = defaultdict(int)
    rejected: dict[tuple[str, str], int] = defaultdict(int)
    hours: dict[tuple[str, str], list[float]] = defaultdict(list)
    with ctx.read() as session:
        for agency, service, event_type, created, occurred in session.execute(query):
            key = (str(agency), str(service))
            if event_type == "ReferralAccepted":
                accepted[key] += 1
                hours[key].append(max((occurred - created).total_seconds(), 0.0) / 3600)
            else:
                rejected[key] += 1
    return {
        key: Figures(
            accepted=accepted[key],
            rejected=rejected[key],
            median_hours_to_accept=statistics.median(hours[key]) if hours[key] else None,
        )
        for key in set(accepted) | set(rejected)
    }


class ReceiverFigures:
    """``read_figures``, remembered for ``TTL_S`` (one reader at a time refreshes them)."""

    def __init__(self, *, ttl_s: float = TTL_S) -> None:
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._read_at = -ttl_s
        self._found: dict[tuple[str, str], Figures] = {}

    def get(self, ctx: ReferralContext) -> dict[tuple[str, str], Figures]:
        with self._lock:
            if time.monotonic() - self._read_at >= self._ttl_s:
                self._found = read_figures(ctx)
                self._read_at = time.monotonic()
            return self._found
