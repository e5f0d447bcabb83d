"""The handoff projection: a pure function from a referral's events to what coordinators see.

``project(state, event)`` takes the current handoff (None before the first event) and one decoded event
(a dict as the codec returns it) and returns the new handoff and the history entry the event adds. It
checks the event against the chain (``seq`` must be the next one) and against the lifecycle (the actor
must be allowed to do this from the current status); an event that breaks either raises
ProjectionError, and the consumer dead-letters it. Duplicates are the consumer's business (it skips
event ids it has processed); here a repeated ``seq`` is a contradiction.

No identifying data enters the projection: sealed fields are ignored.
The audit replay rebuilds the tracker's state with this same function.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from rujukan.core.errors import RujukanError
from rujukan.core.lifecycle import LifecycleError, Status, role_of, transition_for_event
from rujukan.core.regions import KECAMATAN, PROVINCE, region_at

STAGE_FIELD = {
    "ReferralAcknowledged": "acknowledged_at",
    "ReferralAccepted": "accepted_at",
    "ReferralRejected": "rejected_at",
    "ReferralStarted": "started_at",
    "ReferralCompleted": "completed_at",
}
TERMINAL = {Status.REJECTED, Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.FORWARDED}


class ProjectionError(RujukanError):
    """An event that contradicts the chain or the lifecycle; it is dead-lettered, never applied."""


@dataclass(frozen=True, slots=True)
class Handoff:
    referral_id: str
    case_id: str
    parent_referral_id: str | None
    from_agency: str
    to_agency: str
    service_type: str
    urgency: str
    status: str
    subject_id: str
    subject_category: str
    subject_sex: str
    subject_age_band: str
    region_code: str
    created_at: dt.datetime
    updated_at: dt.datetime
    last_seq: int
    acknowledged_at: dt.datetime | None = None
    accepted_at: dt.datetime | None = None
    rejected_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None  # when it reached a terminal status
    subject_erased: bool = False


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    referral_id: str
    seq: int
    event_id: str
    event_type: str
    occurred_at: dt.datetime
    actor_agency: str
    status_after: str
    reason_code: str | None = None
    outcome: str | None = None
    to_agency: str | None = None
    child_referral_id: str | None = None


HANDOFF_FIELDS = tuple(f.name for f in fields(Handoff))
HISTORY_FIELDS = tuple(f.name for f in fields(HistoryEntry))


def handoff_dict(handoff: Handoff) -> dict[str, Any]:
    """Column values of a handoff (shallow: every value is immutable; ``dataclasses.asdict`` deep-copies)."""
    return {name: getattr(handoff, name) for name in HANDOFF_FIELDS}


def history_dict(entry: HistoryEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in HISTORY_FIELDS}


def project(state: Handoff | None, event: Mapping[str, Any]) -> tuple[Handoff, HistoryEntry]:
    """Apply one event; raises ProjectionError when it contradicts the chain or the lifecycle."""
    event_type = str(event["event_type"])
    expected_seq = 1 if state is None else state.last_seq + 1
    if event["seq"] != expected_seq:
        raise ProjectionError(f"{event_type} has seq {event['seq']} where {expected_seq} was expected")
    if state is None:
        if event_type != "ReferralCreated":
            raise ProjectionError(f"{event_type} before ReferralCreated")
        handoff = _created(event)
        return handoff, _entry(handoff, event)
    if str(event["case_id"]) != state.case_id:
        raise ProjectionError(f"{event_type} names another case than its referral")
    status = _next_status(state, event_type, str(event["actor_agency"]))
    occurred_at: dt.datetime = event["occurred_at"]
    changes: dict[str, Any] = {"status": status.value, "updated_at": occurred_at, "last_seq": event["seq"]}
    stage = STAGE_FIELD.get(event_type)
    if stage is not None and getattr(state, stage) is None:  # the first time counts (a restart after hold does not)
        changes[stage] = occurred_at
    if status in TERMINAL and state.closed_at is None:
        changes["closed_at"] = occurred_at
    if event_type == "SubjectErased":  # what could still single the person out goes with the key
        changes.update(
            subject_erased=True,
            subject_sex="unknown",
            subject_age_band="unknown",
            region_code=region_at(state.region_code, PROVINCE),
        )
    if event_type == "SubjectCorrected":
        changes["subject_age_band"] = event["subject_age_band"]
    handoff = replace(state, **changes)
    return handoff, _entry(handoff, event)


def _created(event: Mapping[str, Any]) -> Handoff:
    if event["actor_agency"] != event["from_agency"]:
        raise ProjectionError("ReferralCreated must be recorded by the requesting agency")
    parent = event.get("parent_referral_id")
    return Handoff(
        referral_id=str(event["referral_id"]),
        case_id=str(event["case_id"]),
        parent_referral_id=str(parent) if parent else None,
        from_agency=event["from_agency"],
        to_agency=event["to_agency"],
        service_type=event["service_type"],
        urgency=event["urgency"],
        status=Status.REQUESTED.value,
        subject_id=event["subject_id"],
        subject_category=event["subject_category"],
        subject_sex=event["subject_sex"],
        subject_age_band=event["subject_age_band"],
        region_code=above_village(str(event["subject_region_code"])),
        created_at=event["occurred_at"],
        updated_at=event["occurred_at"],
        last_seq=1,
    )


def above_village(region_code: str) -> str:
    """The region code without its village (desa/kelurahan) level: coordinators see down to the district
    (kecamatan), where a person is one of many (``31.75.01.1001`` -> ``31.75.01``). Referrals made since
    subjects' regions are sealed carry the kabupaten/kota only; older events may carry more."""
    return region_at(region_code, KECAMATAN)


def _next_status(state: Handoff, event_type: str, actor: str) -> Status:
    role = role_of(actor, requester=state.from_agency, responder=state.to_agency)
    try:
        return transition_for_event(event_type, status=Status(state.status), role=role)
    except LifecycleError as exc:
        raise ProjectionError(f"{event_type} by the {role.value} contradicts the lifecycle: {exc}") from exc


def _entry(handoff: Handoff, event: Mapping[str, Any]) -> HistoryEntry:
    child = event.get("child_referral_id")
    return HistoryEntry(
        referral_id=handoff.referral_id,
        seq=int(event["seq"]),
        event_id=str(event["event_id"]),
        event_type=str(event["event_type"]),
        occurred_at=event["occurred_at"],
        actor_agency=event["actor_agency"],
        status_after=handoff.status,
        reason_code=event.get("reason_code"),
        outcome=event.get("outcome"),
        to_agency=event.get("to_agency") if event["event_type"] == "ReferralForwarded" else None,
        child_referral_id=str(child) if child else None,
    )
