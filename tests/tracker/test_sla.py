"""SLA clocks: defaults from DESIGN.md, stop rules, late answers, overrides."""

from __future__ import annotations

import datetime as dt

import pytest

from rujukan.core.sla import SlaPolicy
from rujukan.core.vocabulary import SlaClock
from rujukan.tracker.projection import Handoff, project
from rujukan.tracker.sla import breaches, due_times, is_overdue
from tests.tracker.journeys import T0, Journey

H = dt.timedelta(hours=1)
POLICY = SlaPolicy()


def handoff_of(journey: Journey) -> Handoff:
    state = None
    for event in journey.events:
        state, _ = project(state, event)
    assert state is not None
    return state


@pytest.mark.parametrize(
    ("urgency", "acknowledge", "respond"),
    [("emergency", 1 * H, 4 * H), ("urgent", 24 * H, 72 * H), ("routine", 72 * H, 7 * 24 * H)],
)
def test_default_due_times(urgency: str, acknowledge: dt.timedelta, respond: dt.timedelta) -> None:
    due = due_times(handoff_of(Journey(urgency=urgency)), POLICY)
    assert due == {SlaClock.ACKNOWLEDGE: T0 + acknowledge, SlaClock.RESPOND: T0 + respond}


def test_a_running_clock_breaches_after_its_due_time() -> None:
    handoff = handoff_of(Journey(urgency="emergency"))
    assert breaches(handoff, POLICY, T0 + H) == []
    assert [b.clock for b in breaches(handoff, POLICY, T0 + H + dt.timedelta(seconds=1))] == [SlaClock.ACKNOWLEDGE]
    assert [b.clock for b in breaches(handoff, POLICY, T0 + 5 * H)] == [SlaClock.ACKNOWLEDGE, SlaClock.RESPOND]
    assert is_overdue(handoff, POLICY, T0 + 2 * H)


def test_answers_in_time_stop_the_clocks() -> None:
    handoff = handoff_of(
        Journey(urgency="emergency").then("ReferralAcknowledged", hours=0.5).then("ReferralAccepted", hours=3)
    )
    assert breaches(handoff, POLICY, T0 + 100 * H) == []
    assert not is_overdue(handoff, POLICY, T0 + 100 * H)


def test_accepting_directly_also_acknowledges() -> None:
    handoff = handoff_of(Journey(urgency="emergency").then("ReferralAccepted", hours=0.5))
    assert breaches(handoff, POLICY, T0 + 100 * H) == []


def test_a_late_answer_is_still_a_breach_but_no_longer_overdue() -> None:
    handoff = handoff_of(Journey(urgency="emergency").then("ReferralAcknowledged", hours=2))
    assert [b.clock for b in breaches(handoff, POLICY, T0 + 3 * H)] == [SlaClock.ACKNOWLEDGE]
    assert not is_overdue(handoff, POLICY, T0 + 3 * H)


def test_cancelling_stops_both_clocks() -> None:
    handoff = handoff_of(Journey(urgency="emergency").then("ReferralCancelled", hours=0.5))
    assert breaches(handoff, POLICY, T0 + 100 * H) == []


def test_overrides_per_service_type() -> None:
    policy = SlaPolicy(overrides={("urgent", "safe_shelter"): (2 * H, 6 * H)})
    shelter = handoff_of(Journey(urgency="urgent", service_type="safe_shelter"))
    assert due_times(shelter, policy)[SlaClock.ACKNOWLEDGE] == T0 + 2 * H
    other = handoff_of(Journey(urgency="urgent", service_type="legal_aid"))
    assert due_times(other, policy)[SlaClock.ACKNOWLEDGE] == T0 + 24 * H
