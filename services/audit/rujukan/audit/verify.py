"""Verifying the event log, message by message, as a pure state machine over (partition, offset, bytes).

What it proves, per referral: every message decodes with a known schema; ``seq`` runs 1, 2, 3 ... with
nothing missing and nothing out of order; each ``prev_hash`` is the SHA-256 of the previous event's bytes
(so a changed byte in any event shows at its successor); every transition is legal for its actor and every
event names its referral's case (:func:`rujukan.core.chain.follow`, as the tracker and the notifier
check); an event id never comes back with other bytes. The same event id with the same bytes is
a duplicate (the relay may publish twice, or republish after a broker reset): counted, not a violation.

Messages of one referral share a partition (key = referral id), so log order within a partition is the
order the referral service wrote them.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rujukan.core.catalogue import EventSchema
from rujukan.core.chain import MISSING_EVENTS, OUT_OF_ORDER, ChainBreak, ChainEvent, ChainState, follow
from rujukan.core.codec import EventCodec
from rujukan.core.errors import CodecError
from rujukan.core.lifecycle import CHAIN_EVENTS


@dataclass(frozen=True, slots=True)
class Violation:
    # undecodable | foreign_event | conflicting_duplicate | missing_events | out_of_order | hash_mismatch
    # | illegal | refused_by_projection; of the transparency log (rujukan.audit.log_check): bad_event_signature
    # | missing_from_log | checkpoint_mismatch | inconsistent_history | bad_checkpoint_signature
    kind: str
    partition: int
    offset: int
    detail: str
    referral_id: str | None = None
    seq: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "referral_id": self.referral_id,
            "seq": self.seq,
            "partition": self.partition,
            "offset": self.offset,
            "detail": self.detail,
        }


@dataclass
class _Chain:
    """What is known of one referral so far: the followed state (None before its first event), the hash and
    the log position of its last event."""

    state: ChainState | None = None
    last_hash: bytes | None = None
    last_position: tuple[int, int] = (0, 0)

    @property
    def last_seq(self) -> int:
        return self.state.last_seq if self.state is not None else 0


@dataclass
class ChainVerifier:
    codec: EventCodec = field(default_factory=EventCodec)
    starts_midway: bool = False  # reading began after the start of the log: a chain may begin after seq 1
    violations: list[Violation] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    _chains: dict[str, _Chain] = field(default_factory=dict)
    _digests: dict[str, bytes] = field(default_factory=dict)  # event id -> SHA-256 of its bytes
    last_ids: tuple[str, str] | None = None  # (event id, referral id) of the message fed last, if it decoded
    last_writer: EventSchema | None = None  # the schema the message fed last was written with, if it decoded

    def feed(self, *, partition: int, offset: int, value: bytes | None) -> ChainEvent | None:
        """Check one message; the event when it extends its chain. Its ``record`` is read plain
        (:meth:`EventCodec.decode_plain`: as strict as the logical read, with UUIDs as text and instants as
        microseconds). The tracker's projection takes that event when it was written with the latest version
        of its schema (``last_writer``); export, and a rebuild of an older one, decode the message again."""
        self.counts["messages"] += 1
        self.last_ids = self.last_writer = None
        try:
            decoded = self.codec.decode_plain(value)
        except CodecError as exc:
            self._violate("undecodable", partition, offset, str(exc))
            return None
        event, self.last_writer = decoded.record, decoded.writer
        self.last_ids = (str(event["event_id"]), str(event.get("referral_id") or ""))
        if event["event_type"] not in CHAIN_EVENTS:
            self._violate("foreign_event", partition, offset, f"{event['event_type']} does not belong on this topic")
            return None
        digest = hashlib.sha256(value or b"").digest()
        event_id = str(event["event_id"])
        known = self._digests.get(event_id)
        if known is not None:
            if known == digest:
                self.counts["duplicates"] += 1
            else:
                self._violate(
                    "conflicting_duplicate",
                    partition,
                    offset,
                    "an event id seen before comes back with other content",
                    event,
                )
            return None
        self._digests[event_id] = digest
        return self._extend(partition, offset, event, digest)

    def wrote_latest(self) -> bool:
        """Whether the message fed last was written with the latest version of its schema."""
        return self.last_writer is not None and self.codec.is_latest(self.last_writer)

    def _extend(self, partition: int, offset: int, record: dict[str, Any], digest: bytes) -> ChainEvent | None:
        event = ChainEvent.of(record)
        chain = self._chains.get(event.referral_id)
        if chain is None:
            chain = self._chains[event.referral_id] = _Chain()
            if self.starts_midway and event.seq > 1:  # its earlier events lie before what was read
                chain.state, chain.last_hash = ChainState.unknown(event), event.prev_hash
                self.counts["chains_entered_midway"] += 1
        try:
            state = follow(chain.state, event)
        except ChainBreak as exc:
            if exc.kind == OUT_OF_ORDER:
                self._violate(exc.kind, partition, offset, f"seq {event.seq} after seq {chain.last_seq}", record)
                return None
            if exc.kind == MISSING_EVENTS:  # transitions cannot be judged until the chain starts again
                missing = event.seq - chain.last_seq - 1
                detail = f"seq {event.seq} follows seq {chain.last_seq}: {missing} event(s) missing"
                self._violate(exc.kind, partition, offset, detail, record)
                state = follow(ChainState.unknown(event), event)
            else:
                self._check_hash(chain, event)
                self._violate(exc.kind, partition, offset, str(exc), record)
                # the chain goes on past the illegal event; after an illegal creation its parties are unknown
                state = replace(chain.state or ChainState.unknown(event), last_seq=event.seq)
        else:
            self._check_hash(chain, event)
        chain.state, chain.last_hash, chain.last_position = state, digest, (partition, offset)
        self.counts["events"] += 1
        return event

    def _check_hash(self, chain: _Chain, event: ChainEvent) -> None:
        """The event's ``prev_hash`` must be the hash of the event before it (read just before)."""
        if chain.state is None or event.prev_hash == chain.last_hash:
            return
        previous_partition, previous_offset = chain.last_position
        self.violations.append(
            Violation(
                "hash_mismatch",
                previous_partition,
                previous_offset,
                f"event seq {chain.last_seq} does not hash to the prev_hash of seq {event.seq}: it was changed",
                event.referral_id,
                chain.last_seq,
            )
        )

    def note_refused(self, partition: int, offset: int, event: Mapping[str, Any], reason: str) -> None:
        """The tracker's projection refused an event; a violation unless this event already has one."""
        if not any(v.partition == partition and v.offset == offset for v in self.violations[-3:]):
            self._violate("refused_by_projection", partition, offset, reason, event)

    def _violate(
        self, kind: str, partition: int, offset: int, detail: str, event: Mapping[str, Any] | None = None
    ) -> None:
        referral_id = str(event["referral_id"]) if event else None
        seq = int(event["seq"]) if event else None
        self.violations.append(Violation(kind, partition, offset, detail, referral_id, seq))

    @property
    def referrals(self) -> int:
        return len(self._chains)
