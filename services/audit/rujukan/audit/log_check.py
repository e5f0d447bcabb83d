"""Checking the referral log as a transparency log: every event's signature, every leaf, every checkpoint.

Beside the per-referral chains (:mod:`rujukan.audit.verify`), the relay makes the whole log one RFC 9162
Merkle tree: each message carries its leaf number (header ``log_index``) and the referral service's
signature of its bytes (header ``signature``), and signed checkpoints (C2SP signed notes) name the tree's
size and root. This check is a pure state machine fed message by message, then finished with the
checkpoints to hold the log against:

- ``bad_event_signature``: an event without a good signature by the event key (someone with database
  access, but not the key, put it into the event store, or wrote it to the topic);
- ``missing_from_log``: a leaf below a checkpoint's size that no message carries (an event deleted from
  the event store before the log was republished, or from the topic), or a signed event without a leaf;
- ``checkpoint_mismatch``: the leaves read do not make a checkpoint's root (a changed, reordered or
  replaced event);
- ``inconsistent_history``: a signed checkpoint that is not an extension of an earlier one (the history
  was rewritten and signed again);
- ``bad_checkpoint_signature``: a checkpoint that does not verify with the log key.

Messages from before signatures (no ``log_index`` and no ``signature`` header) are counted as legacy
copies; each must come back with a log index (the upgrade republishes every event), or it is a
``bad_event_signature``. The same leaf read twice with the same bytes is a duplicate, not a violation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from rujukan.audit.verify import Violation
from rujukan.core import tlog
from rujukan.core.kafka.headers import header, log_index
from rujukan.core.signatures import SIGNATURE_HEADER, PublicKeys

# log index -> (event id, referral id), as the referral service recorded them: names what is missing
LeafNames = Callable[[list[int]], dict[int, tuple[str, str]]]
REPUBLISHING = (
    " (the newest checkpoint on the topic is older than the saved one: if the relay is republishing after a"
    " broker restart, replay again once it is done)"
)
MAX_NAMED = 10_000  # missing leaves looked up by name; beyond, ranges are reported without names


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint as read (from a saved file or the checkpoints topic), with where it came from."""

    text: str
    source: str  # "saved file" or "checkpoints topic offset N"


@dataclass
class LogCheck:
    keys: PublicKeys
    violations: list[Violation] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    _leaves: dict[int, bytes] = field(default_factory=dict)  # log index -> leaf hash
    _legacy: dict[str, tuple[int, int, str | None]] = field(default_factory=dict)  # awaiting an index
    _indexed_ids: set[str] = field(default_factory=set)

    def feed(
        self,
        *,
        partition: int,
        offset: int,
        value: bytes | None,
        headers: Iterable[tuple[str, bytes | None]],
        event_id: str | None,
        referral_id: str | None = None,
    ) -> None:
        """Check one message of the referral events topic (ids as decoded, None if it did not decode)."""
        headers = tuple(headers)
        index = log_index(headers)
        signature = header(headers, SIGNATURE_HEADER)
        data = value or b""
        if index is None and not signature:
            if event_id is not None and event_id not in self._indexed_ids:
                self._legacy.setdefault(event_id, (partition, offset, referral_id))
            self.counts["legacy_messages"] += 1
            return
        leaf = tlog.leaf_hash(data)
        known = self._leaves.get(index) if index is not None else None
        if known is not None:
            if known != leaf:
                self._violate(
                    "checkpoint_mismatch", partition, offset, f"log index {index} comes back with other bytes"
                )
            return  # a duplicate (or already reported)
        problem = self.keys.event_problem(data, signature)
        if problem is not None:
            self._violate("bad_event_signature", partition, offset, problem, event_id, referral_id)
            return
        if index is None:
            detail = "a signed event without a log index"
            self._violate("missing_from_log", partition, offset, detail, event_id, referral_id)
            return
        self._leaves[index] = leaf
        if event_id is not None:
            self._indexed_ids.add(event_id)
            self._legacy.pop(event_id, None)
        self.counts["leaves"] += 1

    def finish(
        self,
        *,
        saved: SignedCheckpoint | None,
        newest: SignedCheckpoint | None,
        names: LeafNames | None = None,
    ) -> None:
        """Hold the leaves read against the saved checkpoint and the newest one of the checkpoints topic.
        Holes count only below a checkpoint's size: every event below it was on the topic before the
        checkpoint was (the relay sees to that), while above it a replay may read one partition further
        than another."""
        for event_id, (partition, offset, referral_id) in self._legacy.items():
            detail = "an unsigned event without a log index that never came back with one"
            self._violate("bad_event_signature", partition, offset, detail, event_id, referral_id)
        first = self._open(saved) if saved is not None else None
        last = self._open(newest) if newest is not None else None
        opened = [pair for pair in (first, last) if pair is not None]
        size = max((c.size for c, _ in opened), default=0)
        behind = first is not None and (last is None or last[0].size < first[0].size)
        self._report_missing(size, names, REPUBLISHING if behind else "")
        nodes = self._contiguous_nodes(size)
        for checkpoint, item in opened:
            self._hold(checkpoint, item, nodes)
        self.counts["log_size"] = max(size, len(self._leaves))
        self.counts["checkpoints_checked"] = len(opened)
        if first is not None and last is not None:
            self._consistent(first[0], last[0], last[1], nodes)

    def _open(self, item: SignedCheckpoint) -> tuple[tlog.Checkpoint, SignedCheckpoint] | None:
        try:
            checkpoint = tlog.Checkpoint.open(item.text, self.keys.log.name, self.keys.log.public)
        except (tlog.NoteError, ValueError) as exc:
            self._violate("bad_checkpoint_signature", -1, -1, f"{item.source}: {exc}")
            return None
        return checkpoint, item

    def _contiguous_nodes(self, size: int) -> tlog.MemoryNodes:
        """The tree of the first ``size`` leaves read, up to the first one missing."""
        leaves: list[bytes] = []
        while len(leaves) < size and len(leaves) in self._leaves:
            leaves.append(self._leaves[len(leaves)])
        return tlog.MemoryNodes(leaves)

    def _hold(self, checkpoint: tlog.Checkpoint, item: SignedCheckpoint, nodes: tlog.MemoryNodes) -> None:
        if checkpoint.size > nodes.size:
            return  # leaves are missing below its size: reported as missing_from_log
        if tlog.root(checkpoint.size, nodes.get) != checkpoint.root_hash:
            detail = f"{item.source}: the log's first {checkpoint.size} events do not make the checkpoint's root"
            self._violate("checkpoint_mismatch", -1, -1, detail)

    def _consistent(
        self, first: tlog.Checkpoint, second: tlog.Checkpoint, item: SignedCheckpoint, nodes: tlog.MemoryNodes
    ) -> None:
        """The newest checkpoint must extend the saved one, proven from the log (RFC 9162 2.1.4)."""
        if first.size > second.size or second.size > nodes.size or first.size == 0:
            return
        proof = tlog.consistency_proof(first.size, second.size, nodes.get)
        if tlog.verify_consistency(first.size, second.size, first.root_hash, second.root_hash, proof):
            self.counts["consistency_proofs"] += 1
            return
        detail = (
            f"{item.source} (size {second.size}) is not an extension of the saved checkpoint (size {first.size}): "
            "the history was rewritten"
        )
        self._violate("inconsistent_history", -1, -1, detail)

    def _report_missing(self, size: int, names: LeafNames | None, hint: str) -> None:
        """Every hole below ``size``, by referral where the names are known (ranges from the sorted leaves:
        a bogus huge log index cannot make this loop long)."""
        holes = _holes(sorted(i for i in self._leaves if i < size), size)
        if not holes:
            return
        named = names(list(_first(holes, MAX_NAMED))) if names is not None else {}
        by_referral: dict[str | None, list[tuple[int, int]]] = {}
        for start, end in holes:
            for piece_start, piece_end, referral_id in _split_by_name(start, end, named):
                by_referral.setdefault(referral_id, []).append((piece_start, piece_end))
        for referral_id, ranges in by_referral.items():
            count = sum(end - start for start, end in ranges)
            detail = f"{count} event(s) missing from the log: log index {_ranges(ranges)}{hint}"
            self.violations.append(Violation("missing_from_log", -1, -1, detail, referral_id))

    def _violate(
        self,
        kind: str,
        partition: int,
        offset: int,
        detail: str,
        event_id: str | None = None,
        referral_id: str | None = None,
    ) -> None:
        suffix = f" (event {event_id})" if event_id else ""
        self.violations.append(Violation(kind, partition, offset, detail + suffix, referral_id))


def _holes(present: list[int], size: int) -> list[tuple[int, int]]:
    """The ranges [start, end) below ``size`` that ``present`` (sorted) does not cover."""
    holes: list[tuple[int, int]] = []
    expected = 0
    for index in [*present, size]:
        if index > expected:
            holes.append((expected, index))
        expected = index + 1
    return holes


def _first(holes: list[tuple[int, int]], limit: int) -> Iterator[int]:
    """The first ``limit`` indexes of the holes."""
    left = limit
    for start, end in holes:
        taken = min(end - start, left)
        yield from range(start, start + taken)
        left -= taken
        if left == 0:
            return


def _split_by_name(start: int, end: int, named: dict[int, tuple[str, str]]) -> Iterator[tuple[int, int, str | None]]:
    """[start, end) cut where the referral of the missing event changes; beyond the first MAX_NAMED
    indexes nothing was looked up (None)."""

    def referral(index: int) -> str | None:
        return named[index][1] if index in named else None

    piece_start, current = start, referral(start)
    looked_up = min(end, start + MAX_NAMED)
    for index in range(start + 1, looked_up):
        if referral(index) != current:
            yield piece_start, index, current
            piece_start, current = index, referral(index)
    if looked_up < end and current is not None:
        yield piece_start, looked_up, current
        piece_start, current = looked_up, None
    yield piece_start, end, current


def _ranges(ranges: list[tuple[int, int]]) -> str:
    """``[(3, 6), (9, 10)]`` as ``3-5, 9`` (the first 20 ranges)."""
    spans = [str(start) if end == start + 1 else f"{start}-{end - 1}" for start, end in ranges]
    shown = ", ".join(spans[:20])
    return shown + (f" and {len(spans) - 20} more ranges" if len(spans) > 20 else "")
