"""The three readers of the log refuse the same events: the tracker's projection, the notifier's intake
(on its real database) and the audit verifier. They once disagreed: the notifier routed a
ReferralCreated with any ``seq``, which the tracker dead-lettered, and only the tracker checked the case."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from rujukan.audit.verify import ChainVerifier
from rujukan.core.clock import utc_now
from rujukan.core.codec import EventCodec
from rujukan.core.db import Database
from rujukan.core.kafka.chain_consumer import BatchResult
from rujukan.notifier.intake import route_events
from rujukan.tracker.errors import ProjectionError
from rujukan.tracker.projection import Handoff, project
from tests.tracker.journeys import REQUESTER, RESPONDER, Journey

pytestmark = pytest.mark.integration
CODEC = EventCodec()
Events = list[dict[str, Any]]

CASES: dict[str, Callable[[Events], Events]] = {
    "first event is not a creation": lambda e: e[1:],
    "creation with seq 2": lambda e: [{**e[0], "seq": 2}],
    "a second creation": lambda e: [e[0], {**e[0], "event_id": uuid.uuid4()}],
    "a gap": lambda e: [e[0], e[2]],
    "the requester accepts": lambda e: [e[0], {**e[1], "actor_agency": REQUESTER}],
    "a third party accepts": lambda e: [e[0], {**e[1], "actor_agency": "POLRES-X"}],
    "created by the receiver": lambda e: [{**e[0], "actor_agency": RESPONDER}],
    "another case": lambda e: [e[0], {**e[1], "case_id": uuid.uuid4()}],
    "completed before accepted": lambda e: [e[0], {**e[1], "event_type": "ReferralCompleted", "outcome": "goals_met"}],
}


def encoded(events: Events) -> list[bytes]:
    """The events as the relay publishes them, each ``prev_hash`` the hash of the message before it."""
    out: list[bytes] = []
    for event in events:
        prev_hash = hashlib.sha256(out[-1]).digest() if out and event["seq"] > 1 else None
        out.append(CODEC.encode({**event, "prev_hash": prev_hash}))
    return out


def tracker_refuses(messages: list[bytes]) -> int | None:
    state: Handoff | None = None
    for index, value in enumerate(messages):
        try:
            state, _ = project(state, CODEC.decode(value).record)
        except ProjectionError:
            return index
    return None


def notifier_refuses(db: Database, messages: list[bytes]) -> int | None:
    refused: list[int] = []
    batch = [(index, CODEC.decode(value).record) for index, value in enumerate(messages)]
    with db.transaction() as session:
        route_events(session, batch, lambda record, _: refused.append(record), BatchResult(), clock=utc_now)
    return min(refused, default=None)


def audit_refuses(messages: list[bytes]) -> int | None:
    verifier = ChainVerifier()
    for offset, value in enumerate(messages):
        verifier.feed(partition=0, offset=offset, value=value)
    return min((v.offset for v in verifier.violations), default=None)


def test_a_well_formed_chain_is_refused_by_none(notifier_db: Database) -> None:
    messages = encoded(Journey().then("ReferralAccepted", hours=1).then("ReferralStarted", hours=2).events)
    assert (tracker_refuses(messages), notifier_refuses(notifier_db, messages), audit_refuses(messages)) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_reader_refuses_the_first_event_that_breaks_the_chain(case: str, notifier_db: Database) -> None:
    journey = Journey().then("ReferralAccepted", hours=1).then("ReferralStarted", hours=2)
    messages = encoded(CASES[case](journey.events))
    first = tracker_refuses(messages)
    assert first is not None
    assert notifier_refuses(notifier_db, messages) == first
    assert audit_refuses(messages) == first
