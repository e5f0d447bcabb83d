"""Following one referral's chain of events: the check every reader of the log makes, in one place.

The tracker's projection, the notifier's intake and the audit verifier each read the referral events
topic and must agree on what a well-formed chain is: ``seq`` runs 1, 2, 3 ... with nothing missing and
nothing repeated; the first event is a ``ReferralCreated`` recorded by the requesting agency; every event
names the case its referral was created in; every transition is legal for its actor (the shared
lifecycle). :func:`follow` makes exactly those checks and returns the chain's next state, or raises
:class:`ChainBreak` saying which rule broke (``kind``) and how (the message names no person).

:class:`ChainEvent` is a typed view of the fields every referral event carries, read once from the
decoded record (a logical one, with UUIDs and datetimes, or a plain one: EventCodec.decode_plain), so the
readers need no subscripts and casts of their own.

No I/O here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rujukan.core.avro_plain import days_to_date, micros_to_datetime
from rujukan.core.lifecycle import CREATED_EVENT, LifecycleError, Status, created_status, role_of, transition_for_event

OUT_OF_ORDER = "out_of_order"  # a seq at or before the last one followed: a repeat or a reordering
MISSING_EVENTS = "missing_events"  # a seq past the next one: events in between never arrived
ILLEGAL = "illegal"  # the creator, the case or the transition contradicts the chain


class ChainBreak(LifecycleError):
    """An event that does not extend its referral's chain; ``kind`` says which rule it broke."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """The fields every event of the referral events topic carries, typed; ``record`` is the whole event."""

    event_id: str
    event_type: str
    referral_id: str
    case_id: str
    seq: int
    actor_agency: str
    occurred_at: dt.datetime
    prev_hash: bytes | None
    record: Mapping[str, Any]

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> ChainEvent:
        return cls(
            event_id=str(record["event_id"]),
            event_type=str(record["event_type"]),
            referral_id=str(record["referral_id"]),
            case_id=str(record["case_id"]),
            seq=int(record["seq"]),
            actor_agency=str(record["actor_agency"]),
            occurred_at=_instant(record["occurred_at"]),
            prev_hash=record.get("prev_hash"),
            record=record,
        )

    def text(self, name: str) -> str | None:
        """An optional field of this event type as text (None when absent or empty)."""
        value = self.record.get(name)
        return str(value) if value else None

    def instant(self, name: str) -> dt.datetime | None:
        """An optional ``timestamp-micros`` field of this event type (None when absent or null)."""
        value = self.record.get(name)
        return None if value is None else _instant(value)

    def day(self, name: str) -> dt.date | None:
        """An optional ``date`` field of this event type (None when absent or null)."""
        value = self.record.get(name)
        return None if value is None else _day(value)


@dataclass(frozen=True, slots=True)
class ChainState:
    """What a reader must know of a referral to follow its chain. ``status`` None means not known: the
    reader began after the start of the chain or events are missing, so transitions cannot be judged
    until the chain is read from its start again."""

    referral_id: str
    case_id: str
    from_agency: str
    to_agency: str
    status: Status | None
    last_seq: int

    def after(self, status: Status | None, seq: int) -> ChainState:
        """This chain one event on (``dataclasses.replace`` by hand: a reader makes one per event)."""
        return ChainState(self.referral_id, self.case_id, self.from_agency, self.to_agency, status, seq)

    @classmethod
    def unknown(cls, event: ChainEvent) -> ChainState:
        """The state just before ``event`` when what came before it was not read."""
        return cls(event.referral_id, event.case_id, "", "", None, event.seq - 1)


def _instant(value: dt.datetime | int) -> dt.datetime:
    """An instant of a logical record, or of a plain one (microseconds: EventCodec.decode_plain)."""
    return value if isinstance(value, dt.datetime) else micros_to_datetime(value)


def _day(value: dt.date | int) -> dt.date:
    """A date of a logical record, or of a plain one (days since the epoch: EventCodec.decode_plain)."""
    return value if isinstance(value, dt.date) else days_to_date(value)


def follow(state: ChainState | None, event: ChainEvent) -> ChainState:
    """The chain's state after ``event``; raises ChainBreak when the event does not extend it."""
    expected = 1 if state is None else state.last_seq + 1
    if event.seq != expected:
        kind = MISSING_EVENTS if event.seq > expected else OUT_OF_ORDER
        raise ChainBreak(kind, f"{event.event_type} has seq {event.seq} where {expected} was expected")
    if state is None:
        return _created(event)
    if event.case_id != state.case_id:
        raise ChainBreak(ILLEGAL, f"{event.event_type} names another case than its referral")
    if state.status is None:
        return state.after(state.status, event.seq)
    role = role_of(event.actor_agency, requester=state.from_agency, responder=state.to_agency)
    try:
        status = transition_for_event(event.event_type, status=state.status, role=role)
    except LifecycleError as exc:
        raise ChainBreak(ILLEGAL, f"{event.event_type} by the {role.value} contradicts the lifecycle: {exc}") from exc
    return state.after(status, event.seq)


def _created(event: ChainEvent) -> ChainState:
    if event.event_type != CREATED_EVENT:
        raise ChainBreak(ILLEGAL, f"{event.event_type} before ReferralCreated")
    requester, responder = str(event.record["from_agency"]), str(event.record["to_agency"])
    if event.actor_agency != requester:
        raise ChainBreak(ILLEGAL, "ReferralCreated must be recorded by the requesting agency")
    return ChainState(event.referral_id, event.case_id, requester, responder, created_status(event.record), event.seq)
