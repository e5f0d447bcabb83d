"""The handoff projection: a pure function from a referral's events to what coordinators see.

``project(state, event)`` takes the current handoff (None before the first event) and one decoded event
and returns the new handoff and the history entry the event adds. The event is a dict as the codec
returns it: logical, or plain as ``EventCodec.decode_plain`` reads an event written with the latest
version of its schema (that read needs no resolution; instants and dates are read through
:class:`ChainEvent`, which takes either), or the ChainEvent of one. It follows the chain with
:func:`rujukan.core.chain.follow` (the next ``seq``, the creator, the case, a legal transition for the
actor), as the notifier and the audit do; an event that breaks it raises ProjectionError, and the
consumer dead-letters it. Duplicates are the consumer's business (it skips event ids it has processed);
here a repeated ``seq`` is a contradiction.

No identifying data enters the projection: sealed fields are ignored.
The SLA due times are the ones ReferralCreated carries (None for an event written before they travelled
in it: :func:`rujukan.tracker.sla.due_times` then falls back to a policy).
The audit replay rebuilds the tracker's state with this same function.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from rujukan.core.chain import ChainBreak, ChainEvent, ChainState, follow
from rujukan.core.lifecycle import TERMINAL, Status, created_status
from rujukan.core.regions import KECAMATAN, PROVINCE, region_at
from rujukan.tracker.errors import ProjectionError

STAGE_FIELD = {
    "ReferralAcknowledged": "acknowledged_at",
    "ReferralAccepted": "accepted_at",
    "ReferralRejected": "rejected_at",
    "ReferralStarted": "started_at",
    "ReferralCompleted": "completed_at",
}


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
    ack_due_at: dt.datetime | None = None  # from the event (ReferralCreated v2); None for a v1 event
    respond_due_at: dt.datetime | None = None
    continues_referral_id: str | None = None  # the case's step it continues (ReferralCreated v3)
    planned_for: dt.datetime | None = None  # a planned referral's send time (ReferralCreated v4)
    sent_at: dt.datetime | None = None  # when a planned referral was sent (ReferralSent): its clocks start
    pathway_id: str | None = None  # the pathway it is a step of (ReferralCreated v4)
    pathway_template: str | None = None
    pathway_step: str | None = None
    pathway_anchor_date: dt.date | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    referral_id: str
    seq: int
    event_id: str
    event_type: str
    occurred_at: dt.datetime
    actor_agency: str
    status_after: str
    actor_staff: str | None = None  # the pseudonym of the agency's person who acted, when one did
    reason_code: str | None = None
    outcome: str | None = None
    to_agency: str | None = None
    child_referral_id: str | None = None
    checkpoint_months: int | None = None  # a follow-up check (FollowUpRecorded)


HANDOFF_FIELDS = tuple(f.name for f in fields(Handoff))
HISTORY_FIELDS = tuple(f.name for f in fields(HistoryEntry))


def handoff_dict(handoff: Handoff) -> dict[str, Any]:
    """Column values of a handoff (shallow: every value is immutable; ``dataclasses.asdict`` deep-copies)."""
    return {name: getattr(handoff, name) for name in HANDOFF_FIELDS}


def history_dict(entry: HistoryEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in HISTORY_FIELDS}


def project(state: Handoff | None, record: Mapping[str, Any] | ChainEvent) -> tuple[Handoff, HistoryEntry]:
    """Apply one event (a record, or the ChainEvent of one that the caller has made already); raises
    ProjectionError when it contradicts the chain or the lifecycle."""
    event = record if isinstance(record, ChainEvent) else ChainEvent.of(record)
    try:
        chain = follow(None if state is None else _chain(state), event)
    except ChainBreak as exc:
        raise ProjectionError(str(exc)) from exc
    if state is None:
        handoff = _created(event)
        return handoff, _entry(handoff, event)
    status = chain.status or Status(state.status)
    changes: dict[str, Any] = {"status": status.value, "updated_at": event.occurred_at, "last_seq": event.seq}
    stage = STAGE_FIELD.get(event.event_type)
    if stage is not None and getattr(state, stage) is None:  # the first time counts (a restart after hold does not)
        changes[stage] = event.occurred_at
    if status in TERMINAL and state.closed_at is None:
        changes["closed_at"] = event.occurred_at
    if event.event_type == "SubjectErased":  # what could still single the person out goes with the key
        changes.update(
            subject_erased=True,
            subject_sex="unknown",
            subject_age_band="unknown",
            region_code=region_at(state.region_code, PROVINCE),
        )
    if event.event_type == "SubjectCorrected":
        changes["subject_age_band"] = event.record["subject_age_band"]
    if event.event_type == "ReferralSent":  # a planned referral's clocks start now, with the due times it carries
        changes.update(
            sent_at=event.occurred_at,
            ack_due_at=event.instant("ack_due_at"),
            respond_due_at=event.instant("respond_due_at"),
        )
    handoff = Handoff(**{**handoff_dict(state), **changes})  # dataclasses.replace checks each field: slower
    return handoff, _entry(handoff, event)


def _chain(handoff: Handoff) -> ChainState:
    return ChainState(
        handoff.referral_id,
        handoff.case_id,
        handoff.from_agency,
        handoff.to_agency,
        Status(handoff.status),
        handoff.last_seq,
    )


def _created(event: ChainEvent) -> Handoff:
    record = event.record
    return Handoff(
        referral_id=event.referral_id,
        case_id=event.case_id,
        parent_referral_id=event.text("parent_referral_id"),
        from_agency=str(record["from_agency"]),
        to_agency=str(record["to_agency"]),
        service_type=str(record["service_type"]),
        urgency=str(record["urgency"]),
        status=created_status(record).value,
        subject_id=str(record["subject_id"]),
        subject_category=str(record["subject_category"]),
        subject_sex=str(record["subject_sex"]),
        subject_age_band=str(record["subject_age_band"]),
        region_code=above_village(str(record["subject_region_code"])),
        created_at=event.occurred_at,
        updated_at=event.occurred_at,
        last_seq=1,
        ack_due_at=event.instant("ack_due_at"),
        respond_due_at=event.instant("respond_due_at"),
        continues_referral_id=event.text("continues_referral_id"),
        planned_for=event.instant("planned_for"),
        pathway_id=event.text("pathway_id"),
        pathway_template=event.text("pathway_template"),
        pathway_step=event.text("pathway_step"),
        pathway_anchor_date=event.day("pathway_anchor_date"),
    )


def above_village(region_code: str) -> str:
    """The region code without its village (desa/kelurahan) level: coordinators see down to the district
    (kecamatan), where a person is one of many (``31.75.01.1001`` -> ``31.75.01``). Referrals made since
    subjects' regions are sealed carry the kabupaten/kota only; older events may carry more."""
    return region_at(region_code, KECAMATAN)


def _entry(handoff: Handoff, event: ChainEvent) -> HistoryEntry:
    return HistoryEntry(
        referral_id=handoff.referral_id,
        seq=event.seq,
        event_id=event.event_id,
        event_type=event.event_type,
        occurred_at=event.occurred_at,
        actor_agency=event.actor_agency,
        actor_staff=event.text("actor_staff"),
        status_after=handoff.status,
        reason_code=event.text("reason_code"),
        outcome=event.text("outcome") or event.text("follow_up_outcome"),
        to_agency=event.text("to_agency") if event.event_type == "ReferralForwarded" else None,
        child_referral_id=event.text("child_referral_id"),
        checkpoint_months=event.record.get("checkpoint_months"),
    )
