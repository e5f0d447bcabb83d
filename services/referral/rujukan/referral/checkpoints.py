"""Signed checkpoints of the transparency log, and the RFC 9162 proofs the API hands out.

A checkpoint signs the tree over the events published so far (every leaf below its size has been
acknowledged by the broker at least once), at most every ``checkpoint_interval_s`` while the log grows.
It is kept in ``log_checkpoints`` and published to the checkpoints topic from there, but only once every
event below its size is on the events topic (again, after a broker log reset; see the relay). Proofs
read the stored perfect nodes (:mod:`rujukan.referral.transparency`), O(log n) of them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from rujukan.core import tlog
from rujukan.referral.context import ReferralContext
from rujukan.referral.errors import InvalidRequest, NotFound
from rujukan.referral.models import LogCheckpoint, Referral, ReferralEvent
from rujukan.referral.parties import party_role
from rujukan.referral.transparency import StoredNodes, log_size, log_state


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


def published_size(session: Session) -> int:
    """The size of the tree over the events on the topic now: up to the first one not (re)published."""
    first_unpublished = session.exec(
        select(func.min(ReferralEvent.log_index)).where(
            col(ReferralEvent.published_at).is_(None), col(ReferralEvent.log_index).is_not(None)
        )
    ).one()
    return log_size(session) if first_unpublished is None else int(first_unpublished)


def _checkpoint_due(session: Session) -> int:
    """The size of the tree over every published event, if the newest checkpoint is smaller; else 0."""
    size = published_size(session)
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
