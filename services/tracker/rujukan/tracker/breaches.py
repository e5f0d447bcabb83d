"""Recording SLA breaches in the tracker database (the SLA topic's outbox), at most one per clock."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlmodel import Session

from rujukan.tracker.models import SlaBreachRow
from rujukan.tracker.projection import Handoff
from rujukan.tracker.sla import SlaPolicy, breaches

BREACH_NAMESPACE = uuid.UUID("4f9a3c1e-7b2d-5e60-9a8b-2c1d0e3f4a5b")


def breach_event_id(referral_id: str, clock: str) -> str:
    """Deterministic: a breach re-detected after a restart has the same event id."""
    return str(uuid.uuid5(BREACH_NAMESPACE, f"{referral_id}:{clock}"))


def record_breaches(session: Session, handoff: Handoff, policy: SlaPolicy, *, now: dt.datetime) -> int:
    """Insert the handoff's breaches that are not recorded yet; how many were new."""
    new = 0
    for breach in breaches(handoff, policy, now):
        if session.get(SlaBreachRow, (handoff.referral_id, breach.clock.value)) is None:
            session.add(
                SlaBreachRow(
                    referral_id=handoff.referral_id,
                    clock=breach.clock.value,
                    event_id=breach_event_id(handoff.referral_id, breach.clock.value),
                    due_at=breach.due_at,
                    detected_at=now,
                )
            )
            new += 1
    return new
