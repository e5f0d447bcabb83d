"""The pure projection over event sequences: every lifecycle path, stage times, contradictions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from rujukan.tracker.errors import ProjectionError
from rujukan.tracker.projection import Handoff, HistoryEntry, project
from tests.tracker.journeys import REQUESTER, RESPONDER, T0, Journey

H = dt.timedelta(hours=1)


def run(events: list[dict[str, Any]]) -> tuple[Handoff, list[HistoryEntry]]:
    state: Handoff | None = None
    history = []
    for event in events:
        state, entry = project(state, event)
        history.append(entry)
    assert state is not None
    return state, history


PATHS = {
    "completed": (
        Journey()
        .then("ReferralAcknowledged", hours=1)
        .then("ReferralAccepted", hours=2)
        .then("ReferralStarted", hours=3)
        .then("ReferralPutOnHold", hours=4)
        .then("ReferralStarted", hours=5)
        .then("ReferralCompleted", hours=6),
        "completed",
    ),
    "rejected": (Journey().then("ReferralRejected", hours=1), "rejected"),
    "failed": (Journey().then("ReferralAccepted", hours=1).then("ReferralFailed", hours=2), "failed"),
    "failed on hold": (
        Journey()
        .then("ReferralAccepted", hours=1)
        .then("ReferralStarted", hours=2)
        .then("ReferralPutOnHold", hours=3)
        .then("ReferralFailed", hours=4),
        "failed",
    ),
    "cancelled": (Journey().then("ReferralAcknowledged", hours=1).then("ReferralCancelled", hours=2), "cancelled"),
    "forwarded": (
        Journey().then(
            "ReferralForwarded",
            hours=1,
            to_agency="KEMENSOS-HANDAYANI",
            child_referral_id=uuid.uuid4(),
            reason_code="referred_elsewhere",
            sealed_note=None,
        ),
        "forwarded",
    ),
    "completed from accepted": (
        Journey().then("ReferralAccepted", hours=1).then("ReferralCompleted", hours=2),
        "completed",
    ),
    "notes and erasure": (
        Journey()
        .then("ReferralNoteAdded", hours=1, by=REQUESTER)
        .then("SubjectErased", hours=2, by=REQUESTER, subject_id="sub_x"),
        "requested",
    ),
}


@pytest.mark.parametrize("name", sorted(PATHS))
def test_every_lifecycle_path_ends_in_its_status(name: str) -> None:
    journey, status = PATHS[name]
    handoff, history = run(journey.events)
    assert handoff.status == status
    assert handoff.last_seq == len(journey.events)
    assert [entry.seq for entry in history] == list(range(1, len(journey.events) + 1))
    assert history[-1].status_after == status
    assert (handoff.closed_at is not None) == (status in {"completed", "rejected", "failed", "cancelled", "forwarded"})


def test_stage_times_and_attributes_are_recorded() -> None:
    handoff, history = run(PATHS["completed"][0].events)
    assert handoff.created_at == T0
    assert (handoff.acknowledged_at, handoff.accepted_at, handoff.completed_at) == (T0 + H, T0 + 2 * H, T0 + 6 * H)
    assert handoff.started_at == T0 + 3 * H  # the first start counts
    assert handoff.closed_at == T0 + 6 * H
    assert (handoff.from_agency, handoff.to_agency, handoff.region_code) == (REQUESTER, RESPONDER, "31.75")
    assert history[3].reason_code is None
    assert history[4].reason_code == "missing_documents"
    assert history[-1].outcome == "goals_met"


def test_forward_records_the_child() -> None:
    journey = PATHS["forwarded"][0]
    _, history = run(journey.events)
    assert history[-1].to_agency == "KEMENSOS-HANDAYANI"
    assert history[-1].child_referral_id == str(journey.events[-1]["child_referral_id"])


def test_erasure_marks_the_subject_without_changing_status() -> None:
    handoff, _ = run(PATHS["notes and erasure"][0].events)
    assert handoff.subject_erased
    assert handoff.status == "requested"


def test_erasure_generalises_what_could_still_single_the_person_out() -> None:
    journey = Journey(region="31.75.01").then("SubjectErased", hours=1, subject_id="sub_x", erasure_reason="request")
    handoff, _ = run(journey.events)
    assert (handoff.subject_sex, handoff.subject_age_band, handoff.region_code) == ("unknown", "unknown", "31")
    assert handoff.subject_category == "inmate_pre_release"  # the indicators still count the referral


def test_the_projection_holds_no_sealed_data() -> None:
    handoff, history = run(PATHS["completed"][0].events)
    assert all(not isinstance(value, bytes) for value in vars_of(handoff).values())
    assert all(not isinstance(value, bytes) for entry in history for value in vars_of(entry).values())


def vars_of(obj: object) -> dict[str, object]:
    return {name: getattr(obj, name) for name in obj.__slots__}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("events", "message"),
    [
        (lambda j: j.events[1:], "seq 2 where 1 was expected"),
        (lambda j: [j.events[0], j.events[0]], "seq 1 where 2 was expected"),
        (lambda j: [j.events[0], j.events[2]], "seq 3 where 2 was expected"),
        (lambda j: [j.events[0], {**j.events[1], "actor_agency": REQUESTER}], "by the requester contradicts"),
        (lambda j: [j.events[0], {**j.events[1], "actor_agency": "POLRES-X"}], "by the third_party contradicts"),
        (
            lambda j: [j.events[0], {**j.events[1], "event_type": "ReferralCompleted", "outcome": "other"}],
            "contradicts the lifecycle",
        ),
        (lambda j: [{**j.events[0], "actor_agency": RESPONDER}], "recorded by the requesting agency"),
        (lambda j: [j.events[0], {**j.events[1], "case_id": uuid.uuid4()}], "another case"),
    ],
)
def test_contradictions_raise(events: Any, message: str) -> None:
    journey = Journey().then("ReferralAccepted", hours=1).then("ReferralStarted", hours=2)
    with pytest.raises(ProjectionError, match=message):
        run(events(journey))
