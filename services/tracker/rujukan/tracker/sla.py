"""SLA clocks (DESIGN.md section 2), pure: the due times of a handoff, when its clocks stopped, breaches.

Two clocks start when a referral is created (a planned referral's when it is sent). *acknowledge* stops
at the first answer of the receiving agency (acknowledge, accept or reject) or when the referral closes;
*respond* stops at accept or reject, or when the referral closes. A clock is breached when it stopped
after its due time, or is still running past it. Each breach is published once.

The due times come from the log: the referral service writes them into ReferralCreated (v2) with the
policy in force then. :func:`due_times` is the one place that decides them for the live tracker, the
sweep, the breach publisher and the audit's rebuild; only an event written before the due times
travelled in it (ReferralCreated v1) falls back to the policy given here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rujukan.core.sla import SlaPolicy
from rujukan.core.vocabulary import SlaClock
from rujukan.tracker.errors import SlaPolicyNeeded
from rujukan.tracker.projection import Handoff


@dataclass(frozen=True, slots=True)
class Breach:
    referral_id: str
    clock: SlaClock
    due_at: dt.datetime


def due_times(handoff: Handoff, policy: SlaPolicy | None) -> dict[SlaClock, dt.datetime]:
    """The due times the handoff's ReferralCreated (or, for a planned referral, ReferralSent) event carried;
    for an older event without them, the ``policy``'s (SlaPolicyNeeded when none is given). None for a
    planned referral that was never sent: its clocks never started."""
    if not has_clocks(handoff):
        return {}
    ack, respond = handoff.ack_due_at, handoff.respond_due_at
    if ack is None or respond is None:
        if policy is None:
            raise SlaPolicyNeeded(f"referral {handoff.referral_id}: its ReferralCreated event carries no due times")
        ack, respond = policy.due_at(
            urgency=handoff.urgency, service_type=handoff.service_type, created_at=handoff.created_at
        )
    return {SlaClock.ACKNOWLEDGE: ack, SlaClock.RESPOND: respond}


def has_clocks(handoff: Handoff) -> bool:
    """Whether the handoff's SLA clocks started: at creation, or for a planned referral when it was sent."""
    return handoff.planned_for is None or handoff.sent_at is not None


def stopped_at(handoff: Handoff, clock: SlaClock) -> dt.datetime | None:
    """When the clock stopped, or None while it runs."""
    answers = [handoff.accepted_at, handoff.rejected_at, handoff.closed_at]
    if clock is SlaClock.ACKNOWLEDGE:
        answers.append(handoff.acknowledged_at)
    stops = [moment for moment in answers if moment is not None]
    return min(stops) if stops else None


def breaches(handoff: Handoff, policy: SlaPolicy | None, now: dt.datetime) -> list[Breach]:
    """Every clock of the handoff that is past due at ``now`` (or stopped late)."""
    found = []
    for clock, due in due_times(handoff, policy).items():
        stop = stopped_at(handoff, clock)
        if (stop if stop is not None else now) > due:
            found.append(Breach(referral_id=handoff.referral_id, clock=clock, due_at=due))
    return found


def is_overdue(handoff: Handoff, policy: SlaPolicy | None, now: dt.datetime) -> bool:
    """A clock still running past its due time: what a coordinator must chase now."""
    return any(stopped_at(handoff, clock) is None and now > due for clock, due in due_times(handoff, policy).items())
