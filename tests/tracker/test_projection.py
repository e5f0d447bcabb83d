"""The pure projection over event sequences: every lifecycle path, stage times, contradictions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from rujukan.core.codec import EventCodec
from rujukan.tracker.errors import ProjectionError
from rujukan.tracker.projection import Handoff, HistoryEntry, project
from tests.tracker.journeys import REQUESTER, RESPONDER, T0, Journey

H = dt.timedelta(hours=1)
CODEC = EventCodec()


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


def planned_pathway_step() -> Journey:
    """A planned pathway step, sent, accepted and followed up: every instant and date the projection reads."""
    journey = Journey()
    journey.events[0].update(
        planned_for=T0 + dt.timedelta(days=3),
        pathway_id=uuid.uuid4(),
        pathway_template="conditional_release",
        pathway_step="supervision",
        pathway_anchor_date=dt.date(2026, 11, 1),
        continues_referral_id=uuid.uuid4(),
        actor_staff="stf_4c1f9a2e7b3d5e60",
    )
    return (
        journey.then(
            "ReferralSent",
            hours=72,
            by=REQUESTER,
            ack_due_at=T0 + dt.timedelta(days=4),
            respond_due_at=T0 + dt.timedelta(days=6, microseconds=7),
        )
        .then("ReferralAccepted", hours=80)
        .then("ReferralCompleted", hours=90)
        .then(
            "FollowUpRecorded",
            hours=100,
            by=REQUESTER,
            checkpoint_months=3,
            follow_up_outcome="employed",
            pathway_id=journey.events[0]["pathway_id"],
            sealed_note=None,
        )
    )


@pytest.mark.parametrize("name", [*sorted(PATHS), "planned pathway step"])
def test_a_plain_read_of_latest_version_events_projects_as_the_logical_read(name: str) -> None:
    """The audit rebuild projects the verifier's plain records of latest-version events (no second decode):
    the handoff and every history entry must be the tracker's, which projects the logical read."""
    journey = planned_pathway_step() if name == "planned pathway step" else PATHS[name][0]
    encoded = [CODEC.encode(event) for event in journey.events]
    assert all(CODEC.is_latest(CODEC.decode_plain(value).writer) for value in encoded)
    logical = run([CODEC.decode(value).record for value in encoded])
    plain = run([CODEC.decode_plain(value).record for value in encoded])
    assert plain == logical
    assert isinstance(plain[0].created_at, dt.datetime)
