"""Checking the referral log as a transparency log: every event's signature, every leaf, every checkpoint.

Beside the per-referral chains (:mod:`rujukan.audit.verify`), the relay makes the whole log one RFC 9162
Merkle tree: each message carries its leaf number (header ``log_index``) and the referral service's
signature of its bytes (header ``signature``), and signed checkpoints (C2SP signed notes) name the tree's
size and root. This check is a pure state machine fed message by message, then finished with the
checkpoints to hold the log against:

- ``bad_event_signature``: an event without a good signature by the event key (someone with database
  access, but not the key, put it into the event store, or wrote it to the topic);
- ``missing_from_log``: a leaf below the log's size, or below a checkpoint's, that no message carries (an
  event deleted from the event store before the log was republished, or from the topic);
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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rujukan.audit.verify import Violation
from rujukan.core import tlog
from rujukan.core.kafka.headers import header, log_index
from rujukan.core.signatures import SIGNATURE_HEADER, PublicKeys

# log index -> (event id, referral id), as the referral service recorded them: names what is missing
LeafNames = Callable[[list[int]], dict[int, tuple[str, str]]]
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
    _where: dict[int, tuple[int, int]] = field(default_factory=dict)  # log index -> (partition, offset)
    _last_index: dict[int, int] = field(default_factory=dict)  # partition -> last new log index
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
        if index <= self._last_index.get(partition, -1):
            self._violate(
                "checkpoint_mismatch",
                partition,
                offset,
                f"log index {index} after log index {self._last_index[partition]} in the same partition",
                event_id,
                referral_id,
            )
        self._last_index[partition] = max(index, self._last_index.get(partition, -1))
        self._leaves[index] = leaf
        self._where[index] = (partition, offset)
        if event_id is not None:
            self._indexed_ids.add(event_id)
            self._legacy.pop(event_id, None)
        self.counts["leaves"] += 1

    def finish(
        self,
        *,
        saved: SignedCheckpoint | None,
        published: list[SignedCheckpoint],
        names: LeafNames | None = None,
    ) -> None:
        """Hold the leaves read against the saved checkpoint and every checkpoint of the topic."""
        for event_id, (partition, offset, referral_id) in self._legacy.items():
            detail = "an unsigned event without a log index that never came back with one"
            self._violate("bad_event_signature", partition, offset, detail, event_id, referral_id)
        opened = [c for c in (self._open(item) for item in [*([saved] if saved else []), *published]) if c]
        size = max([max(self._leaves, default=-1) + 1, *(c.size for c, _ in opened)])
        self._report_missing(size, names)
        nodes = self._contiguous_nodes()
        for checkpoint, item in opened:
            self._hold(checkpoint, item, nodes)
        self.counts["log_size"] = size
        self.counts["checkpoints_checked"] = len(opened)
        newest = max(opened, key=lambda pair: pair[0].size, default=None)
        if saved is not None and newest is not None:
            first = next((c for c, item in opened if item is saved), None)
            if first is not None:
                self._consistent(first, newest[0], newest[1], nodes)

    def _open(self, item: SignedCheckpoint) -> tuple[tlog.Checkpoint, SignedCheckpoint] | None:
        try:
            checkpoint = tlog.Checkpoint.open(item.text, self.keys.log.name, self.keys.log.public)
        except (tlog.NoteError, ValueError) as exc:
            self._violate("bad_checkpoint_signature", -1, -1, f"{item.source}: {exc}")
            return None
        return checkpoint, item

    def _contiguous_nodes(self) -> tlog.MemoryNodes:
        """The tree of the leaves read, up to the first one missing."""
        leaves: list[bytes] = []
        while len(leaves) in self._leaves:
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

    def _report_missing(self, size: int, names: LeafNames | None) -> None:
        missing = [index for index in range(size) if index not in self._leaves]
        if not missing:
            return
        known = names(missing[:MAX_NAMED]) if names is not None else {}
        by_referral: dict[str | None, list[int]] = {}
        for index in missing:
            by_referral.setdefault(known[index][1] if index in known else None, []).append(index)
        for referral_id, indexes in by_referral.items():
            detail = f"{len(indexes)} event(s) missing from the log: log index {_ranges(indexes)}"
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


def _ranges(indexes: list[int]) -> str:
    """``[3, 4, 5, 9]`` as ``3-5, 9`` (the first 20 ranges)."""
    spans: list[str] = []
    start = previous = indexes[0]
    for index in [*indexes[1:], None]:
        if index is not None and index == previous + 1:
            previous = index
            continue
        spans.append(str(start) if start == previous else f"{start}-{previous}")
        if index is not None:
            start = previous = index
    shown = ", ".join(spans[:20])
    return shown + (f" and {len(spans) - 20} more ranges" if len(spans) > 20 else "")
