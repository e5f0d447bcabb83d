"""Who hears of an event, and what they hear (pure).

The rule: every party to a referral hears what the other party did. The receiving agency hears of a new
referral (including one forwarded to it; a planned one as ``referral.planned``, then ``referral.requested``
when it is sent), a cancellation and the requester's notes; the referring agency
hears every answer (acknowledged, accepted, rejected, started, on hold, completed, failed) and a
forward, which closes its loop. Both hear an SLA breach, and so do coordinators subscribed to breaches.

Payloads are thin: event type, ids, statuses, agency codes, codes and times. No subject id, no sealed
field, no free text: the receiver fetches details through the API with its own credentials.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

WEBHOOK_TYPES = {
    "ReferralCreated": "referral.requested",
    "ReferralSent": "referral.requested",  # a planned referral sent: now it is asked of the receiver
    "ReferralAcknowledged": "referral.acknowledged",
    "ReferralAccepted": "referral.accepted",
    "ReferralRejected": "referral.rejected",
    "ReferralStarted": "referral.started",
    "ReferralPutOnHold": "referral.on_hold",
    "ReferralCompleted": "referral.completed",
    "ReferralFailed": "referral.failed",
    "ReferralCancelled": "referral.cancelled",
    "ReferralForwarded": "referral.forwarded",
    "ReferralNoteAdded": "referral.note_added",
    "FollowUpRecorded": "referral.follow_up_recorded",
    "SubjectErased": "subject.erased",
    "SubjectAccessed": "subject.accessed",
    "SubjectCorrected": "subject.corrected",
    "ConsentWithdrawn": "subject.consent_withdrawn",
    "SubjectRestricted": "subject.restricted",
    "SubjectRestrictionLifted": "subject.restriction_lifted",
    "SlaBreached": "sla.breached",
}
BREACH_TYPE = WEBHOOK_TYPES["SlaBreached"]
PLANNED_TYPE = "referral.planned"  # a ReferralCreated with a planned send time: the receiver hears of it ahead
KNOWN_TYPES = frozenset({*WEBHOOK_TYPES.values(), PLANNED_TYPE})


def webhook_type(event: Mapping[str, Any]) -> str:
    """The webhook type that tells of ``event``."""
    if event["event_type"] == "ReferralCreated" and event.get("planned_for") is not None:
        return PLANNED_TYPE
    return WEBHOOK_TYPES[str(event["event_type"])]


# Fields copied into the payload when the event has them: codes and ids, never identifying data.
THIN_FIELDS = (
    "reason_code",
    "outcome",
    "child_referral_id",
    "parent_referral_id",
    "service_type",
    "urgency",
    "clock",
    "due_at",
    "planned_for",
    "pathway_id",
    "pathway_step",
    "checkpoint_months",
    "follow_up_outcome",
)


@dataclass(frozen=True, slots=True)
class Parties:
    from_agency: str
    to_agency: str
    status: str | None  # None when not known yet (an SLA breach read before the referral's events)


def recipients(event: Mapping[str, Any], parties: Parties) -> list[str]:
    """The agency codes to tell of ``event``."""
    both = [parties.from_agency, parties.to_agency]
    if event["event_type"] == "SlaBreached":
        return both
    return [agency for agency in both if agency != event["actor_agency"]]


def payload(
    event: Mapping[str, Any], parties: Parties, *, log_index: int | None = None, leaf_hash: bytes | None = None
) -> dict[str, Any]:
    """The JSON body of the webhook for ``event``; ``log_index`` and ``leaf_hash`` place a referral event in
    the transparency log, so the agency can save them and later prove that it is still there (an inclusion
    proof from the referral API, checked against a checkpoint it kept)."""
    data: dict[str, Any] = {
        "event_id": str(event["event_id"]),
        "referral_id": str(event["referral_id"]),
        "case_id": str(event["case_id"]),
        "seq": event["seq"],
        "from_agency": parties.from_agency,
        "to_agency": parties.to_agency,
        "actor_agency": event["actor_agency"],
    }
    if parties.status is not None:
        data["status"] = parties.status
    if log_index is not None and leaf_hash is not None:
        data["log_index"] = log_index
        data["leaf_hash"] = base64.b64encode(leaf_hash).decode()
    if event["event_type"] == "ReferralForwarded":
        data["forwarded_to"] = event["to_agency"]
    for name in THIN_FIELDS:
        value = event.get(name)
        if value is not None:
            data[name] = value.isoformat() if isinstance(value, dt.datetime) else str(value)
    occurred_at: dt.datetime = event["occurred_at"]
    return {"type": webhook_type(event), "timestamp": occurred_at.isoformat(), "data": data}
