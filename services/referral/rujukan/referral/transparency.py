"""The transparency log over the event store: log indexes, tree nodes, signed checkpoints and proofs.

Leaf *i* is the *i*-th event the relay publishes, as its exact encoded bytes (RFC 9162 hashing,
:mod:`rujukan.core.tlog`). Before publishing, the relay *sequences* the oldest stored events without a log
index: it checks each one's signature (an event without a good one is refused, never published), gives
the rest the next log indexes in the order they were stored, and stores the tree's new perfect nodes,
all in one transaction that holds the log's state row. A log index, once given, never changes: after a
broker log reset the relay republishes in log index order, and a deleted event leaves a hole that every
replay sees.

A checkpoint signs the tree over the events published so far (every leaf below its size has been
acknowledged by the broker at least once), at most every ``checkpoint_interval_s`` while the log grows.
It is kept in ``log_checkpoints`` and published to the checkpoints topic from there.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, update
from sqlmodel import Session, col, select

from rujukan.core import tlog
from rujukan.referral.context import ReferralContext
from rujukan.referral.errors import InvalidRequest, NotFound
from rujukan.referral.models import LogCheckpoint, LogNode, LogState, Referral, ReferralEvent
from rujukan.referral.parties import party_role

LOG = "referral-events"
EVENTS = ReferralEvent.__table__  # type: ignore[attr-defined]
NODES = LogNode.__table__  # type: ignore[attr-defined]
NO_NAME = {"event_id": None, "referral_id": None}


class StoredNodes:
    """The tree's stored perfect nodes, read in one session (a node never changes, so reads are cached)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._cache: dict[tuple[int, int], bytes] = {}

    def __call__(self, level: int, index: int) -> bytes:
        found = self._cache.get((level, index))
        if found is None:
            found = self._session.exec(
                select(LogNode.hash).where(LogNode.level == level, LogNode.idx == index)
            ).one_or_none()
            if found is None:
                raise LookupError(f"the log has no node ({level}, {index}): its tree is incomplete")
            self._cache[(level, index)] = found
        return found


@dataclass(frozen=True, slots=True)
class Refusal:
    """A stored event the relay will not publish, and why (no personal data: ids and a reason)."""

    event_id: str
    referral_id: str
    position: int
    key: bytes
    value: bytes
    reason: str


def log_state(session: Session) -> LogState:
    """The log's state row, locked for the transaction (made if missing: a database made from the models)."""
    state = session.exec(select(LogState).where(LogState.name == LOG).with_for_update()).one_or_none()
    if state is None:
        state = LogState(name=LOG, size=0, legacy_position=0, updated_at=dt.datetime.now(dt.UTC))
        session.add(state)
        session.flush()
    return state


def log_size(session: Session) -> int:
    return session.exec(select(LogState.size).where(LogState.name == LOG)).one_or_none() or 0


UNSEQUENCED = (col(ReferralEvent.log_index).is_(None), col(ReferralEvent.refused).is_(None))


def sequence(ctx: ReferralContext, limit: int) -> list[Refusal]:
    """Give log indexes to up to ``limit`` stored events that have none; the events refused meanwhile.
    An idle round only reads (on SQLite a write transaction would hold up the API's writers)."""
    with ctx.read() as session:
        if session.exec(select(ReferralEvent.position).where(*UNSEQUENCED).limit(1)).first() is None:
            return []
    with ctx.transaction() as session:
        state = log_state(session)
        rows = session.exec(
            select(ReferralEvent)
            .where(*UNSEQUENCED)
            .order_by(col(ReferralEvent.position))
            .limit(limit)
        ).all()
        if not rows:
            return []
        now, public = ctx.clock(), ctx.signing.public
        accepted: list[dict[str, Any]] = []
        leaves: list[bytes] = []
        names: dict[int, dict[str, str]] = {}
        refusals: list[Refusal] = []
        for row in rows:
            signature = row.signature
            if signature is None and (row.position or 0) <= state.legacy_position:
                signature = ctx.signing.sign_event(row.payload)  # stored before events were signed
            problem = public.event_problem(row.payload, signature)
            if problem is not None:
                refusals.append(
                    Refusal(
                        row.event_id, row.referral_id, row.position or 0, row.referral_id.encode(), row.payload, problem
                    )
                )
                accepted_or_refused = {"p": row.position, "i": None, "s": row.signature, "r": problem, "t": now}
            else:
                index = state.size + len(leaves)
                leaves.append(tlog.leaf_hash(row.payload))
                names[index] = {"event_id": row.event_id, "referral_id": row.referral_id}
                accepted_or_refused = {"p": row.position, "i": index, "s": signature, "r": None, "t": None}
            accepted.append(accepted_or_refused)
        session.connection().execute(
            update(EVENTS)
            .where(EVENTS.c.position == bindparam("p"))
            .values(
                log_index=bindparam("i"), signature=bindparam("s"), refused=bindparam("r"), refused_at=bindparam("t")
            ),
            accepted,
        )
        if leaves:
            nodes = tlog.appended(state.size, leaves, StoredNodes(session))
            session.execute(
                insert(NODES),
                [
                    {"level": level, "idx": index, "hash": h, **(names.get(index, NO_NAME) if level == 0 else NO_NAME)}
                    for level, index, h in nodes
                ],
            )
            state.size += len(leaves)
            state.updated_at = now
            session.add(state)
        return refusals


def leaf_names(ctx: ReferralContext, indexes: list[int]) -> dict[int, tuple[str, str]]:
    """The event and referral ids the store recorded for these log indexes (to name what a replay misses)."""
    found: dict[int, tuple[str, str]] = {}
    with ctx.read() as session:
        for start in range(0, len(indexes), 500):
            rows = session.exec(
                select(LogNode.idx, LogNode.event_id, LogNode.referral_id).where(
                    LogNode.level == 0, col(LogNode.idx).in_(indexes[start : start + 500])
                )
            ).all()
            found.update({int(i): (e, r) for i, e, r in rows if e is not None and r is not None})
    return found


def refused_alarm(ctx: ReferralContext) -> str | None:
    """The readiness alarm: events in the store that the relay refused (someone wrote to the event store
    without the referral service's key, or a key was lost). It stays raised until an operator deals with them."""
    with ctx.read() as session:
        refused = int(session.exec(select(func.count()).where(col(ReferralEvent.refused).is_not(None))).one())
    if refused == 0:
        return None
    return f"{refused} stored event(s) refused by the relay for a missing or bad signature (see the dead letters)"


def sign_checkpoint(ctx: ReferralContext) -> LogCheckpoint | None:
    """Sign the tree over every event published so far, unless the newest checkpoint has it already."""
    with ctx.read() as session:
        if not _checkpoint_due(session):
            return None
    with ctx.transaction() as session:
        log_state(session)  # held: one signer at a time
        size = _checkpoint_due(session)
        if not size:
            return None
        root = tlog.root(size, StoredNodes(session))
        note = tlog.Checkpoint(ctx.signing.origin, size, root).sign(ctx.signing.origin, ctx.signing.log)
        checkpoint = LogCheckpoint(tree_size=size, root_hash=root, note=note, created_at=ctx.clock())
        session.add(checkpoint)
        return checkpoint


def _checkpoint_due(session: Session) -> int:
    """The size of the tree over every published event, if the newest checkpoint is smaller; else 0."""
    first_unpublished = session.exec(
        select(func.min(ReferralEvent.log_index)).where(
            col(ReferralEvent.published_at).is_(None), col(ReferralEvent.log_index).is_not(None)
        )
    ).one()
    size = log_size(session) if first_unpublished is None else int(first_unpublished)
    latest = _latest(session)
    return size if size > 0 and (latest is None or latest.tree_size < size) else 0


def latest_checkpoint(ctx: ReferralContext) -> LogCheckpoint | None:
    with ctx.read() as session:
        return _latest(session)


def _latest(session: Session) -> LogCheckpoint | None:
    return session.exec(select(LogCheckpoint).order_by(col(LogCheckpoint.tree_size).desc()).limit(1)).first()


@dataclass(frozen=True, slots=True)
class InclusionProof:
    event_id: str
    log_index: int
    tree_size: int
    leaf_hash: bytes
    audit_path: list[bytes]


def inclusion_proof(ctx: ReferralContext, *, agency: str, event_id: str, tree_size: int | None) -> InclusionProof:
    """The RFC 9162 inclusion proof of one event of a referral the agency is a party to, in the tree of
    ``tree_size`` leaves (default: the newest checkpoint's). Anything else is the same NotFound."""
    try:
        event_id = str(uuid.UUID(event_id))
    except ValueError as exc:
        raise NotFound("event not found") from exc
    with ctx.read() as session:
        event = session.exec(select(ReferralEvent).where(ReferralEvent.event_id == event_id)).one_or_none()
        referral = session.get(Referral, event.referral_id) if event is not None else None
        if event is None or referral is None or party_role(referral, agency) is None:
            raise NotFound("event not found")
        size = _tree_size(session, tree_size)
        if event.log_index is None or event.log_index >= size:
            raise InvalidRequest(f"the event is not in the tree of {size} leaves (it is not in the log yet)")
        nodes = StoredNodes(session)
        return InclusionProof(
            event_id=event.event_id,
            log_index=event.log_index,
            tree_size=size,
            leaf_hash=nodes(0, event.log_index),
            audit_path=tlog.inclusion_proof(event.log_index, size, nodes),
        )


def consistency_proof(ctx: ReferralContext, *, first: int, second: int) -> list[bytes]:
    """The RFC 9162 consistency proof between the trees of ``first`` and ``second`` leaves."""
    with ctx.read() as session:
        size = log_size(session)
        if not 0 < first <= second <= size:
            raise InvalidRequest(f"need 0 < first <= second <= {size} (the log's size)")
        return tlog.consistency_proof(first, second, StoredNodes(session))


def _tree_size(session: Session, asked: int | None) -> int:
    size = log_size(session)
    if asked is None:
        latest = _latest(session)
        if latest is None:
            raise InvalidRequest("the log has no checkpoint yet: give tree_size")
        return latest.tree_size
    if not 0 < asked <= size:
        raise InvalidRequest(f"tree_size must be between 1 and {size} (the log's size)")
    return asked
