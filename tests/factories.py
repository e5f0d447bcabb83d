"""Deterministic sample events, one per event type, valid against the latest schemas."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from rujukan.core.codec import Event

REFERRAL_ID = UUID("0b9f6d3e-4c1a-4e57-9a51-6f1f3b1e2a01")
CASE_ID = UUID("7c2d1b44-98e3-4f0a-b3c6-2f5e9d8a7b02")
PARALLEL_ID = UUID("3f8a1c52-6b1e-4d2a-9c47-0e5b8d21f6a3")
CHILD_ID = UUID("3e8a5c71-1d2b-4c9e-8f40-a6b7c8d9e003")
PATHWAY_ID = UUID("5a1e7c30-2b4d-4f86-9e13-c4d5e6f7a804")
OCCURRED_AT = dt.datetime(2026, 11, 2, 8, 30, 15, 123456, tzinfo=dt.UTC)
PREV_HASH = bytes(range(32))

_PAYLOADS: dict[str, dict[str, Any]] = {
    "ReferralCreated": {
        "from_agency": "LAPAS-CIPINANG",
        "to_agency": "BAPAS-JAKTIM",
        "service_type": "supervision",
        "urgency": "urgent",
        "parent_referral_id": None,
        "subject_id": "sub_5f2c9a0e1b7d4c36",
        "subject_category": "inmate_pre_release",
        "subject_sex": "male",
        "subject_age_band": "age_25_44",
        "subject_region_code": "31.75",
        "legal_basis": "consent",
        "consent": {"given_by": "subject", "recorded_at": dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)},
        "sealed_subject": b"\x01sealed-subject-bytes" * 8,
        "sealed_reason": b"\x01sealed-reason-bytes" * 4,
        "ack_due_at": OCCURRED_AT + dt.timedelta(hours=24),  # v2: the due times of the default urgent clocks
        "respond_due_at": OCCURRED_AT + dt.timedelta(hours=72),
        "parallel_referral_ids": [PARALLEL_ID],  # v3: another active referral of the same person
        "continues_referral_id": PARALLEL_ID,  # v3: the referral of the case it continues
        "planned_for": None,  # v4: sent at once (a planned one carries its send time and no due times)
        "pathway_id": PATHWAY_ID,  # v4: a step of a pathway
        "pathway_template": "conditional_release",
        "pathway_step": "supervision",
        "pathway_anchor_date": dt.date(2026, 12, 2),
        "sealed_assessment": b"\x01sealed-assessment",  # v4: a risk and needs assessment, sealed
    },
    "FollowUpRecorded": {
        "checkpoint_months": 6,
        "follow_up_outcome": "employed",
        "pathway_id": PATHWAY_ID,
        "sealed_note": b"\x01sealed-note",
    },
    "ReferralSent": {
        "sealed_note": None,
        "ack_due_at": OCCURRED_AT + dt.timedelta(hours=72),
        "respond_due_at": OCCURRED_AT + dt.timedelta(hours=168),
    },
    "ReferralAcknowledged": {"sealed_note": None},
    "ReferralAccepted": {"sealed_note": b"\x01sealed-note"},
    "ReferralRejected": {"reason_code": "capacity_full", "sealed_note": None},
    "ReferralStarted": {"sealed_note": None},
    "ReferralPutOnHold": {"reason_code": "missing_documents", "sealed_note": b"\x01sealed-note"},
    "ReferralCompleted": {"outcome": "goals_met", "sealed_note": None},
    "ReferralFailed": {"reason_code": "subject_unreachable", "sealed_note": None},
    "ReferralCancelled": {"reason_code": "duplicate", "sealed_note": None},
    "ReferralForwarded": {
        "to_agency": "KEMENSOS-SENTRA-HANDAYANI",
        "child_referral_id": CHILD_ID,
        "reason_code": "referred_elsewhere",
        "sealed_note": None,
    },
    "ReferralNoteAdded": {"sealed_note": b"\x01sealed-note"},
    "SubjectErased": {"subject_id": "sub_5f2c9a0e1b7d4c36", "erasure_reason": "request"},
    "SubjectAccessed": {"subject_id": "sub_5f2c9a0e1b7d4c36"},
    "SubjectCorrected": {
        "subject_id": "sub_5f2c9a0e1b7d4c36",
        "sealed_subject": b"\x01sealed-corrected-identity",
        "subject_age_band": "age_25_44",
    },
    "ConsentWithdrawn": {"subject_id": "sub_5f2c9a0e1b7d4c36"},
    "SubjectRestricted": {"subject_id": "sub_5f2c9a0e1b7d4c36"},
    "SubjectRestrictionLifted": {"subject_id": "sub_5f2c9a0e1b7d4c36"},
    "SlaBreached": {
        "clock": "acknowledge",
        "due_at": dt.datetime(2026, 11, 3, 8, 30, tzinfo=dt.UTC),
        "from_agency": "LAPAS-CIPINANG",
        "to_agency": "BAPAS-JAKTIM",
        "urgency": "urgent",
        "service_type": "supervision",
    },
}

EVENT_TYPES = sorted(_PAYLOADS)
SAMPLE_STAFF = "stf_4c1f9a2e7b3d5e60"
_STAFF_TYPES = frozenset(EVENT_TYPES) - {"SlaBreached", "SealedDataDisclosed"}  # the acts of an agency's people
# Each type's sample keeps its event id when types are added (the ids are in the golden bytes).
_FIRST_TYPES = [
    "ReferralAccepted",
    "ReferralAcknowledged",
    "ReferralCancelled",
    "ReferralCompleted",
    "ReferralCreated",
    "ReferralFailed",
    "ReferralForwarded",
    "ReferralNoteAdded",
    "ReferralPutOnHold",
    "ReferralRejected",
    "ReferralStarted",
    "SlaBreached",
    "SubjectErased",
]
_LATEST_TYPES = [
    "ReferralSent",
    "FollowUpRecorded",
]  # types added after the first ids were pinned go last, in the order added
_SAMPLE_IDS = {
    t: i + 1
    for i, t in enumerate(
        _FIRST_TYPES + [t for t in EVENT_TYPES if t not in _FIRST_TYPES and t not in _LATEST_TYPES] + _LATEST_TYPES
    )
}


def sample_event(event_type: str, /, *, seq: int = 2, **overrides: Any) -> Event:
    """A complete, valid event of ``event_type`` with fixed ids and times (golden-bytes safe)."""
    event: Event = {
        "event_id": UUID(int=_SAMPLE_IDS[event_type]),
        "event_type": event_type,
        "occurred_at": OCCURRED_AT,
        "referral_id": REFERRAL_ID,
        "case_id": CASE_ID,
        "seq": seq,
        "prev_hash": None if seq == 1 else PREV_HASH,
        "actor_agency": "BAPAS-JAKTIM",
        **({"actor_staff": SAMPLE_STAFF} if event_type in _STAFF_TYPES else {}),
        **_PAYLOADS[event_type],
    }
    event.update(overrides)
    return event
