"""Event sequences of referral journeys, as the referral service would publish them (decoded form)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

T0 = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
REQUESTER, RESPONDER = "LAPAS-CIPINANG", "BAPAS-JAKTIM"

PAYLOAD: dict[str, dict[str, Any]] = {
    "ReferralAcknowledged": {"sealed_note": None},
    "ReferralAccepted": {"sealed_note": None},
    "ReferralStarted": {"sealed_note": None},
    "ReferralNoteAdded": {"sealed_note": b"\x01x"},
    "ReferralRejected": {"reason_code": "capacity_full", "sealed_note": None},
    "ReferralPutOnHold": {"reason_code": "missing_documents", "sealed_note": None},
    "ReferralFailed": {"reason_code": "subject_unreachable", "sealed_note": None},
    "ReferralCancelled": {"reason_code": "duplicate", "sealed_note": None},
    "ReferralCompleted": {"outcome": "goals_met", "sealed_note": None},
}


class Journey:
    """Builds one referral's events in order: ``Journey(...).then("ReferralAccepted", hours=2)...``."""

    def __init__(
        self,
        *,
        urgency: str = "urgent",
        category: str = "inmate_pre_release",
        region: str = "31.75",
        subject_id: str | None = None,
        start: dt.datetime = T0,
        service_type: str = "supervision",
        from_agency: str = REQUESTER,
        to_agency: str = RESPONDER,
        case_id: uuid.UUID | None = None,
        parent: uuid.UUID | None = None,
        referral_id: uuid.UUID | None = None,
    ) -> None:
        self.referral_id = referral_id or uuid.uuid4()
        self.case_id = case_id or uuid.uuid4()
        self.from_agency, self.to_agency = from_agency, to_agency
        self.start = start
        self.events: list[dict[str, Any]] = []
        self._add(
            "ReferralCreated",
            from_agency,
            start,
            {
                "from_agency": from_agency,
                "to_agency": to_agency,
                "service_type": service_type,
                "urgency": urgency,
                "parent_referral_id": parent,
                "subject_id": subject_id or f"sub_{uuid.uuid4().hex[:20]}",
                "subject_category": category,
                "subject_sex": "female",
                "subject_age_band": "age_25_44",
                "subject_region_code": region,
                "legal_basis": "legal_obligation",
                "consent": None,
                "sealed_subject": b"\x01s",
                "sealed_reason": b"\x01r",
            },
        )

    def then(self, event_type: str, *, hours: float, by: str | None = None, **payload: Any) -> Journey:
        actor = by or (self.from_agency if event_type == "ReferralCancelled" else self.to_agency)
        self._add(event_type, actor, self.start + dt.timedelta(hours=hours), {**PAYLOAD.get(event_type, {}), **payload})
        return self

    def _add(self, event_type: str, actor: str, at: dt.datetime, payload: dict[str, Any]) -> None:
        self.events.append(
            {
                "event_id": uuid.uuid4(),
                "event_type": event_type,
                "occurred_at": at,
                "referral_id": self.referral_id,
                "case_id": self.case_id,
                "seq": len(self.events) + 1,
                "prev_hash": None if not self.events else b"\x00" * 32,
                "actor_agency": actor,
                **payload,
            }
        )
