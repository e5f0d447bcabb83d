"""Housekeeping of the referral service: what is kept for a while and then forgotten.

Subjects whose retention period ran out are erased (``retention``). Idempotency records (the first
answer to a create and a keyed hash of its body, which held personal data) are deleted
``idempotency_hours`` after they were made (72 by default): a client retries within minutes, not days.
The database is then made to forget them in its files (``core.db.forget``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import delete
from sqlmodel import col

from rujukan.core.db import forget
from rujukan.core.loops import Periodic
from rujukan.referral.context import ReferralContext
from rujukan.referral.models import IdempotencyKey
from rujukan.referral.retention import erase_expired

INTERVAL_S = 600.0


def housekeeping(ctx: ReferralContext, *, idempotency_hours: float, retention_days: Mapping[str, int]) -> Periodic:
    """A loop worker: at start and every ``INTERVAL_S`` seconds, what has outlived its time is deleted."""
    window, retention = dt.timedelta(hours=idempotency_hours), dict(retention_days)

    def tidied() -> int:
        now = ctx.clock()
        erased = erase_expired(ctx, now=now, days=retention)
        return erased + expire_idempotency(ctx, older_than=now - window)

    return Periodic(tidied, interval_s=INTERVAL_S)


def expire_idempotency(ctx: ReferralContext, *, older_than: dt.datetime) -> int:
    """Delete idempotency records made before ``older_than``; how many."""
    with ctx.transaction() as session:
        done = session.execute(delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < older_than))
        deleted = int(done.rowcount or 0)  # type: ignore[attr-defined]
    if deleted:
        forget(ctx.engine, "idempotency_keys")
    return deleted
