"""The chain follower shared by every reader of the log: which rule an event breaks, and the state after."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from rujukan.core.chain import ILLEGAL, MISSING_EVENTS, OUT_OF_ORDER, ChainBreak, ChainEvent, ChainState, follow
from rujukan.core.lifecycle import Status
from tests.tracker.journeys import REQUESTER, RESPONDER, Journey


def followed(events: list[dict[str, Any]]) -> ChainState:
    state: ChainState | None = None
    for event in events:
        state = follow(state, ChainEvent.of(event))
    assert state is not None
    return state


def test_a_chain_is_followed_to_its_status_and_last_seq() -> None:
    journey = Journey().then("ReferralAccepted", hours=1).then("ReferralStarted", hours=2)
    state = followed(journey.events)
    assert state == ChainState(
        str(journey.referral_id), str(journey.case_id), REQUESTER, RESPONDER, Status.IN_PROGRESS, 3
    )


def test_the_typed_view_reads_the_common_fields_once() -> None:
    journey = Journey().then("ReferralRejected", hours=1)
    event = ChainEvent.of(journey.events[1])
    assert (event.seq, event.event_type, event.actor_agency) == (2, "ReferralRejected", RESPONDER)
    assert event.text("reason_code") == "capacity_full"
    assert event.text("outcome") is None
    assert (event.referral_id, event.case_id) == (str(journey.referral_id), str(journey.case_id))


@pytest.mark.parametrize(
    ("events", "kind", "message"),
    [
        (lambda j: j.events[1:], MISSING_EVENTS, "seq 2 where 1 was expected"),
        (lambda j: [{**j.events[0], "seq": 2}], MISSING_EVENTS, "ReferralCreated has seq 2 where 1"),
        (lambda j: [j.events[0], j.events[2]], MISSING_EVENTS, "seq 3 where 2 was expected"),
        (lambda j: [j.events[0], j.events[1], j.events[1]], OUT_OF_ORDER, "seq 2 where 3 was expected"),
        (lambda j: [j.events[0], {**j.events[0], "event_id": uuid.uuid4()}], OUT_OF_ORDER, "seq 1 where 2"),
        (lambda j: [{**j.events[1], "seq": 1}], ILLEGAL, "ReferralAccepted before ReferralCreated"),
        (lambda j: [{**j.events[0], "actor_agency": RESPONDER}], ILLEGAL, "recorded by the requesting agency"),
        (lambda j: [j.events[0], {**j.events[1], "case_id": uuid.uuid4()}], ILLEGAL, "another case"),
        (lambda j: [j.events[0], {**j.events[1], "actor_agency": REQUESTER}], ILLEGAL, "by the requester"),
        (lambda j: [j.events[0], {**j.events[1], "actor_agency": "POLRES-X"}], ILLEGAL, "by the third_party"),
    ],
)
def test_each_broken_rule_is_named(events: Any, kind: str, message: str) -> None:
    journey = Journey().then("ReferralAccepted", hours=1).then("ReferralStarted", hours=2)
    with pytest.raises(ChainBreak, match=message) as raised:
        followed(events(journey))
    assert raised.value.kind == kind


def test_an_unknown_status_checks_order_and_case_but_not_transitions() -> None:
    """A reader that began mid-chain cannot judge a transition, but still sees a gap or a foreign case."""
    journey = (
        Journey().then("ReferralAccepted", hours=1).then("ReferralStarted", hours=2).then("ReferralStarted", hours=3)
    )
    third = ChainEvent.of(journey.events[2])
    state = follow(ChainState.unknown(third), third)
    assert (state.status, state.last_seq) == (None, 3)
    state = follow(state, ChainEvent.of(journey.events[3]))  # started twice: illegal, but not judged here
    assert state.last_seq == 4
    with pytest.raises(ChainBreak) as raised:
        follow(state, ChainEvent.of({**journey.events[3], "seq": 5, "case_id": uuid.uuid4()}))
    assert raised.value.kind == ILLEGAL
