"""Appending events to a referral's chain, in the caller's transaction (the outbox).

Invariant: a referral's events have ``seq`` 1, 2, 3 ... and each ``prev_hash`` is the SHA-256 of the
previous event's encoded bytes; the referral row keeps the chain's head (``last_seq``, ``last_hash``).
The caller holds the referral row locked (``FOR UPDATE`` on PostgreSQL, the single writer on SQLite),
so two actions on one referral cannot interleave.

Each event's bytes are signed as they are stored (the event key, :mod:`rujukan.core.signatures`): the relay
publishes nothing else. Event rows are written on the driver (:mod:`rujukan.referral.statements`): the hot
path needs no ORM.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from sqlmodel import Session

from rujukan.core.codec import EventCodec, event_hash
from rujukan.core.fast_sql import connection_of
from rujukan.core.signatures import SigningKeys
from rujukan.referral.acting import ACTING_STAFF
from rujukan.referral.models import Referral
from rujukan.referral.statements import statements


class EventWriter(Protocol):
    """What storing an event needs (a ReferralContext is one): the codec, and the key that signs it."""

    @property
    def codec(self) -> EventCodec: ...

    @property
    def signing(self) -> SigningKeys: ...


@dataclass(frozen=True, slots=True)
class ChainedEvent:
    """An encoded event ready to insert, and the chain head after it."""

    row: dict[str, Any]
    seq: int
    hash: bytes


def chain_event(
    ctx: EventWriter,
    *,
    referral_id: str,
    case_id: str,
    last_seq: int,
    last_hash: bytes | None,
    event_type: str,
    actor: str,
    occurred_at: dt.datetime,
    fields: dict[str, Any],
) -> ChainedEvent:
    seq = last_seq + 1
    event_id = uuid.uuid4()
    payload = ctx.codec.encode(
        {
            "event_id": event_id,
            "event_type": event_type,
            "occurred_at": occurred_at,
            "referral_id": uuid.UUID(referral_id),
            "case_id": uuid.UUID(case_id),
            "seq": seq,
            "prev_hash": last_hash,
            "actor_agency": actor,
            "actor_staff": ACTING_STAFF.get(),
            **fields,
        }
    )
    row = {
        "event_id": str(event_id),
        "referral_id": referral_id,
        "seq": seq,
        "event_type": event_type,
        "actor_agency": actor,
        "occurred_at": occurred_at,
        "payload": payload,
        "signature": ctx.signing.sign_event(payload),
    }
    return ChainedEvent(row=row, seq=seq, hash=event_hash(payload))


def insert_events(session: Session, events: list[ChainedEvent]) -> None:
    connection = connection_of(session)
    statements(connection).insert_event.run(connection, [event.row for event in events])


def append_event(
    session: Session,
    ctx: EventWriter,
    referral: Referral,
    event_type: str,
    *,
    actor: str,
    occurred_at: dt.datetime,
    fields: dict[str, Any],
) -> ChainedEvent:
    """Append to a referral loaded (and locked) through the ORM; moves its chain head."""
    event = chain_event(
        ctx,
        referral_id=referral.id,
        case_id=referral.case_id,
        last_seq=referral.last_seq,
        last_hash=referral.last_hash,
        event_type=event_type,
        actor=actor,
        occurred_at=occurred_at,
        fields=fields,
    )
    referral.last_seq, referral.last_hash = event.seq, event.hash
    session.add(referral)
    session.flush()  # the referral row exists (and is updated) before its event row
    insert_events(session, [event])
    return event
