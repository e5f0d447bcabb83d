"""Appending events to a referral's chain, in the caller's transaction (the outbox).

Invariant: a referral's events have ``seq`` 1, 2, 3 ... and each ``prev_hash`` is the SHA-256 of the
previous event's encoded bytes; the referral row keeps the chain's head (``last_seq``, ``last_hash``).
The caller holds the referral row locked (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite),
so two actions on one referral cannot interleave.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlmodel import Session

from rujukan.core.codec import EventCodec, event_hash
from rujukan.referral.models import Referral, ReferralEvent


def append_event(
    session: Session,
    codec: EventCodec,
    referral: Referral,
    event_type: str,
    *,
    actor: str,
    occurred_at: dt.datetime,
    fields: dict[str, Any],
) -> ReferralEvent:
    seq = referral.last_seq + 1
    record = {
        "event_id": uuid.uuid4(),
        "event_type": event_type,
        "occurred_at": occurred_at,
        "referral_id": uuid.UUID(referral.id),
        "case_id": uuid.UUID(referral.case_id),
        "seq": seq,
        "prev_hash": referral.last_hash,
        "actor_agency": actor,
        **fields,
    }
    payload = codec.encode(record)
    referral.last_seq = seq
    referral.last_hash = event_hash(payload)
    session.add(referral)
    session.flush()  # the referral row must exist before its event row (foreign key)
    row = ReferralEvent(
        event_id=str(record["event_id"]),
        referral_id=referral.id,
        seq=seq,
        event_type=event_type,
        actor_agency=actor,
        occurred_at=occurred_at,
        payload=payload,
    )
    session.add(row)
    return row
