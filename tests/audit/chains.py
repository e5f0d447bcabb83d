"""Real event chains for audit tests, built with the referral service's own chaining (true prev_hash)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from rujukan.core.codec import EventCodec
from rujukan.core.signatures import SigningKeys
from rujukan.referral.eventstore import chain_event

T0 = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
CODEC = EventCodec()


@dataclass(frozen=True)
class Writer:
    """Stores events as the referral service does: encoded, and signed with the event key."""

    codec: EventCodec
    signing: SigningKeys


WRITER = Writer(CODEC, SigningKeys.generate("test.rujukan.local/log"))
CREATED: dict[str, Any] = {
    "from_agency": "POLRES-JAKTIM-PPA",
    "to_agency": "UPTD-PPA-DKI",
    "service_type": "safe_shelter",
    "urgency": "emergency",
    "parent_referral_id": None,
    "subject_category": "violence_victim_woman",
    "subject_sex": "female",
    "subject_age_band": "age_25_44",
    "subject_region_code": "31.75",
    "legal_basis": "vital_interest",
    "consent": None,
    "sealed_subject": b"\x01" + bytes(60),
    "sealed_reason": b"\x01" + bytes(40),
}
STEPS: list[tuple[str, str, dict[str, Any]]] = [
    ("ReferralAcknowledged", "UPTD-PPA-DKI", {"sealed_note": None}),
    ("ReferralAccepted", "UPTD-PPA-DKI", {"sealed_note": b"\x01note"}),
    ("ReferralStarted", "UPTD-PPA-DKI", {"sealed_note": None}),
    ("ReferralCompleted", "UPTD-PPA-DKI", {"outcome": "service_delivered", "sealed_note": None}),
]


def referral_chain(steps: int = 4) -> list[bytes]:
    """The encoded events of one referral: created, then the first ``steps`` of STEPS."""
    referral_id, case_id = str(uuid.uuid4()), str(uuid.uuid4())
    encoded: list[bytes] = []
    last_seq, last_hash = 0, None
    plan = [
        ("ReferralCreated", "POLRES-JAKTIM-PPA", {**CREATED, "subject_id": f"sub_{uuid.uuid4().hex[:20]}"}),
        *STEPS[:steps],
    ]
    for hours, (event_type, actor, fields) in enumerate(plan):
        event = chain_event(
            WRITER,
            referral_id=referral_id,
            case_id=case_id,
            last_seq=last_seq,
            last_hash=last_hash,
            event_type=event_type,
            actor=actor,
            occurred_at=T0 + dt.timedelta(hours=hours),
            fields=fields,
        )
        encoded.append(event.row["payload"])
        last_seq, last_hash = event.seq, event.hash
    return encoded


def reencode(value: bytes, **changes: Any) -> bytes:
    """The same event with some fields changed (bytes, hash and all)."""
    return CODEC.encode({**CODEC.decode(value).record, **changes})
