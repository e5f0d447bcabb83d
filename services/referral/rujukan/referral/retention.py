"""Retention: a subject's data is erased a set time after its last referral closed, unless held.

The period is set per subject category (``RUJUKAN_RETENTION_DAYS``, JSON, e.g. ``{"default": 1825,
"violence_victim_child": 3650}``); a subject whose referrals are of several categories keeps the longest.
A subject qualifies when it is not erased, not under a legal hold, every one of its referrals is closed
(terminal) and the last of them changed longer ago than the period. Its erasure is the same as on
request (``subjects``), recorded as SubjectErased with the reason ``retention`` by ``RUJUKAN-RETENTION``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import case, func
from sqlmodel import col, select

from rujukan.core.db import forget
from rujukan.core.lifecycle import TERMINAL
from rujukan.referral.context import ReferralContext
from rujukan.referral.models import Referral, Subject
from rujukan.referral.subjects import FORGETTING, erase

RETENTION_ACTOR = "RUJUKAN-RETENTION"
DEFAULT_DAYS = 1825
BATCH = 200


def due_for_erasure(ctx: ReferralContext, *, now: dt.datetime, days: Mapping[str, int]) -> list[str]:
    """Subject ids whose retention period has run out."""
    closed = [s.value for s in TERMINAL]
    query = (
        select(
            Referral.subject_id,
            func.max(Referral.updated_at),
            func.sum(case((col(Referral.status).in_(closed), 0), else_=1)),
        )
        .join(Subject, col(Subject.id) == col(Referral.subject_id))
        .where(col(Subject.erased_at).is_(None), col(Subject.legal_hold).is_(False))
        .group_by(col(Referral.subject_id))
    )
    categories: dict[str, set[str]] = {}
    with ctx.read() as session:
        for subject_id, category in session.exec(select(Referral.subject_id, Referral.subject_category)):
            categories.setdefault(subject_id, set()).add(category)
        rows = session.exec(query).all()
    due = []
    for subject_id, last_change, open_referrals in rows:
        period = max(days.get(c, days.get("default", DEFAULT_DAYS)) for c in categories.get(subject_id, {"default"}))
        if not open_referrals and last_change < now - dt.timedelta(days=period):
            due.append(str(subject_id))
    return due


def erase_expired(ctx: ReferralContext, *, now: dt.datetime, days: Mapping[str, int]) -> int:
    """Erase every subject due; how many."""
    due = due_for_erasure(ctx, now=now, days=days)
    for start in range(0, len(due), BATCH):
        with ctx.transaction() as session:
            for subject_id in due[start : start + BATCH]:
                subject = session.get(Subject, subject_id, with_for_update=True)
                if subject is not None and not subject.legal_hold:
                    erase(ctx, session, subject, actor=RETENTION_ACTOR, reason="retention")
    if due:
        forget(ctx.engine, *FORGETTING)
    return len(due)
