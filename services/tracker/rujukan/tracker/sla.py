"""SLA clocks (DESIGN.md section 2), pure: due times per urgency, optionally per service type, and breaches.

Two clocks start when a referral is created. *acknowledge* stops at the first answer of the receiving
agency (acknowledge, accept or reject) or when the referral closes; *respond* stops at accept or reject,
or when the referral closes. A clock is breached when it stopped after its due time, or is still running
past it. Each breach is published once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from rujukan.core.vocabulary import SlaClock
from rujukan.tracker.projection import Handoff

HOUR = dt.timedelta(hours=1)
DEFAULT_CLOCKS: dict[str, tuple[dt.timedelta, dt.timedelta]] = {
    "emergency": (1 * HOUR, 4 * HOUR),
    "urgent": (24 * HOUR, 72 * HOUR),
    "routine": (72 * HOUR, 7 * 24 * HOUR),
}


@dataclass(frozen=True)
class SlaPolicy:
    """Acknowledge and respond limits per urgency; ``overrides`` per (urgency, service type)."""

    clocks: dict[str, tuple[dt.timedelta, dt.timedelta]] = field(default_factory=lambda: dict(DEFAULT_CLOCKS))
    overrides: dict[tuple[str, str], tuple[dt.timedelta, dt.timedelta]] = field(default_factory=dict)

    def limits(self, urgency: str, service_type: str) -> tuple[dt.timedelta, dt.timedelta]:
        return self.overrides.get((urgency, service_type)) or self.clocks[urgency]


@dataclass(frozen=True, slots=True)
class Breach:
    referral_id: str
    clock: SlaClock
    due_at: dt.datetime


def due_times(handoff: Handoff, policy: SlaPolicy) -> dict[SlaClock, dt.datetime]:
    acknowledge, respond = policy.limits(handoff.urgency, handoff.service_type)
    return {SlaClock.ACKNOWLEDGE: handoff.created_at + acknowledge, SlaClock.RESPOND: handoff.created_at + respond}


def stopped_at(handoff: Handoff, clock: SlaClock) -> dt.datetime | None:
    """When the clock stopped, or None while it runs."""
    answers = [handoff.accepted_at, handoff.rejected_at, handoff.closed_at]
    if clock is SlaClock.ACKNOWLEDGE:
        answers.append(handoff.acknowledged_at)
    stops = [moment for moment in answers if moment is not None]
    return min(stops) if stops else None


def breaches(handoff: Handoff, policy: SlaPolicy, now: dt.datetime) -> list[Breach]:
    """Every clock of the handoff that is past due at ``now`` (or stopped late)."""
    found = []
    for clock, due in due_times(handoff, policy).items():
        stop = stopped_at(handoff, clock)
        if (stop if stop is not None else now) > due:
            found.append(Breach(referral_id=handoff.referral_id, clock=clock, due_at=due))
    return found


def is_overdue(handoff: Handoff, policy: SlaPolicy, now: dt.datetime) -> bool:
    """A clock still running past its due time: what a coordinator must chase now."""
    return any(stopped_at(handoff, clock) is None and now > due for clock, due in due_times(handoff, policy).items())
