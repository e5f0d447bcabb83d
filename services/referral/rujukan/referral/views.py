"""What the referral service answers: response models, and how they are built from rows and events.

Summaries (create answers, lists) carry no identifying data. The full view, for parties only, opens the
sealed subject, reason and notes server-side; after erasure those read as erased.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import BaseModel, Field

from rujukan.core.codec import EventCodec
from rujukan.core.lifecycle import Role, Status, allowed_actions
from rujukan.core.sealing import DataKey, SealingError
from rujukan.referral.models import Referral, ReferralEvent


class ReferralSummary(BaseModel):
    id: str
    status: str
    case_id: str
    parent_referral_id: str | None
    continues_referral_id: str | None = None
    subject_id: str
    from_agency: str
    to_agency: str
    service_type: str
    urgency: str
    subject_category: str
    subject_region_code: str
    created_at: dt.datetime
    updated_at: dt.datetime
    planned_for: dt.datetime | None = Field(
        default=None, description="A planned referral's send time; it is sent to the receiver then (status planned)."
    )
    ack_due_at: dt.datetime | None = Field(
        default=None,
        description="When acknowledging falls due (the SLA its ReferralCreated or ReferralSent event carries); None"
        " while planned, and for referrals made before Rujukan kept it here",
    )
    respond_due_at: dt.datetime | None = Field(default=None, description="When accepting or rejecting falls due.")
    pathway_id: str | None = Field(default=None, description="The pathway this referral is a step of.")
    pathway_template: str | None = None
    pathway_step: str | None = None
    warnings: list[dict[str, Any]] = Field(
        default_factory=list,
        description="What pre-flight found when the referral was made (rujukan.referral.preflight); shown to the"
        " referring agency only",
    )


class SubjectView(BaseModel):
    subject_id: str
    erased: bool
    full_name: str | None = None
    nik: str | None = None
    ihs_number: str | None = None
    birth_date: str | None = None
    phone: str | None = None
    address: str | None = None
    sex: str
    category: str
    age_band: str
    region_code: str


class ConsentView(BaseModel):
    given_by: str
    recorded_at: dt.datetime


class HistoryEntry(BaseModel):
    seq: int
    event_type: str
    occurred_at: dt.datetime
    actor_agency: str
    actor_staff: str | None = Field(
        default=None, description="The pseudonym of the agency's person who acted (a staff account), if one did."
    )
    reason_code: str | None = None
    outcome: str | None = None
    to_agency: str | None = None
    child_referral_id: str | None = None
    note: str | None = None


class AssessmentView(BaseModel):
    instrument: str | None = None
    assessed_at: dt.datetime
    domains: dict[str, int]
    note: str | None = None


class ReferralView(ReferralSummary):
    legal_basis: str
    consent: ConsentView | None
    subject: SubjectView
    reason: str | None
    assessment: AssessmentView | None = Field(
        default=None, description="The risk and needs assessment that travels with it (None when erased or none)."
    )
    allowed_actions: list[str]
    history: list[HistoryEntry]


def summary(referral: Referral, *, subject_alias: str, viewer: str) -> ReferralSummary:
    """A referral as its reader sees it: the subject by the reader's own alias (see ``identity``); the
    pre-flight warnings only for the referring agency (they may name its other referrals)."""
    fields = {name: getattr(referral, name) for name in ReferralSummary.model_fields if name != "warnings"}
    warnings = json.loads(referral.warnings or "[]") if viewer == referral.from_agency else []
    return ReferralSummary.model_validate({**fields, "subject_id": subject_alias, "warnings": warnings})


def full_view(
    referral: Referral,
    events: list[ReferralEvent],
    *,
    key: DataKey | None,
    role: Role,
    codec: EventCodec,
    subject_alias: str,
    viewer: str,
) -> ReferralView:
    identity = _open_json(key, referral.sealed_subject, referral, "subject")
    region = identity.pop("region_code", None) or referral.subject_region_code  # the full code is sealed
    consent = None
    if referral.consent_given_by and referral.consent_recorded_at:
        consent = ConsentView(given_by=referral.consent_given_by, recorded_at=referral.consent_recorded_at)
    return ReferralView(
        **summary(referral, subject_alias=subject_alias, viewer=viewer).model_dump(),
        legal_basis=referral.legal_basis,
        consent=consent,
        subject=SubjectView(
            subject_id=subject_alias,
            erased=key is None,
            **identity,
            sex=referral.subject_sex,
            category=referral.subject_category,
            age_band=referral.subject_age_band,
            region_code=region,
        ),
        reason=_open_text(key, referral.sealed_reason, referral, "reason"),
        assessment=_assessment(key, referral),
        allowed_actions=[a.value for a in allowed_actions(Status(referral.status), role)],
        history=[_history_entry(row, referral, key, codec) for row in events],
    )


def _assessment(key: DataKey | None, referral: Referral) -> AssessmentView | None:
    if referral.sealed_assessment is None:
        return None
    opened = _open_text(key, referral.sealed_assessment, referral, "assessment")
    return AssessmentView.model_validate_json(opened) if opened else None


def _history_entry(row: ReferralEvent, referral: Referral, key: DataKey | None, codec: EventCodec) -> HistoryEntry:
    record = codec.decode(row.payload).record
    sealed_note = record.get("sealed_note")
    child = record.get("child_referral_id")
    return HistoryEntry(
        seq=row.seq,
        event_type=row.event_type,
        occurred_at=row.occurred_at,
        actor_agency=row.actor_agency,
        actor_staff=record.get("actor_staff"),
        reason_code=record.get("reason_code"),
        outcome=record.get("outcome"),
        to_agency=record.get("to_agency") if row.event_type == "ReferralForwarded" else None,
        child_referral_id=str(child) if child else None,
        note=_open_text(key, sealed_note, referral, f"note:{row.seq}") if sealed_note else None,
    )


def _open_text(key: DataKey | None, sealed: bytes, referral: Referral, field: str) -> str | None:
    return open_sealed(key, sealed, subject_id=referral.subject_id, referral_id=referral.id, field=field)


def open_sealed(
    key: DataKey | None, sealed: bytes | None, *, subject_id: str, referral_id: str, field: str
) -> str | None:
    """The text of a sealed field; None when the subject's key is gone (erased) or the field does not open."""
    if key is None or sealed is None:
        return None
    try:
        return key.open(sealed, subject_id=subject_id, referral_id=referral_id, field=field).decode()
    except SealingError:
        return None


def _open_json(key: DataKey | None, sealed: bytes, referral: Referral, field: str) -> dict[str, Any]:
    text = _open_text(key, sealed, referral, field)
    return json.loads(text) if text else {}
