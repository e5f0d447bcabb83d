"""The transparency log over the event store: signatures checked, log indexes given, tree nodes stored.

Leaf *i* is the *i*-th event the relay publishes, as its exact encoded bytes (RFC 9162 hashing,
:mod:`rujukan.core.tlog`). Before publishing, the relay *sequences* the oldest stored events without a log
index: it checks each one's signature (an event without a good one is refused, never published), gives
the rest the next log indexes in the order they were stored, and stores the tree's new perfect nodes,
all in one transaction that holds the log's state row. A log index, once given, never changes: after a
broker log reset the relay republishes in log index order, and a deleted event leaves a hole that every
replay sees. Each time an event is (re)published its signature and its leaf are checked again: bytes
changed in the store, or a log index written by someone else, are refused too. Refused events stay in
the store with the reason, go to the dead-letter topic, and keep the readiness alarm raised.

Checkpoints and proofs: :mod:`rujukan.referral.checkpoints`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, bindparam, func, update
from sqlalchemy import select as columns
from sqlmodel import Session, col, select

from rujukan.core import tlog
from rujukan.core.fast_sql import connection_of, execute_many, fetch_all, fetch_one, placeholders
from rujukan.core.signatures import SigningKeyError
from rujukan.referral.context import ReferralContext
from rujukan.referral.models import LogNode, LogState, ReferralEvent
from rujukan.referral.statements import statements

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
            connection = connection_of(self._session)
            row = fetch_one(connection, statements(connection).log_node, (level, index))
            if row is None:
                raise LookupError(f"the log has no node ({level}, {index}): its tree is incomplete")
            found = self._cache[(level, index)] = bytes(row[0])
        return found


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


def adopt_log(ctx: ReferralContext) -> None:
    """At start-up, after the migrations: the log must be signed with this service's key (a lost key file
    replaced by a new one, or another origin, would disown every signature made); the first start records
    the key. Events stored before signatures (positions 1 to ``legacy_position``, as the migration found
    them) are signed now, once; after that only events signed as they were stored are ever published."""
    verifier = ctx.signing.public.log.text
    with ctx.transaction() as session:
        state = log_state(session)
        if state.verifier_key is None:
            state.verifier_key = verifier
        elif state.verifier_key != verifier:
            raise SigningKeyError(
                f"the signing key is not the one this log is signed with ({state.verifier_key.split('+')[0]}+"
                f"{state.verifier_key.split('+')[1]}): restore the signing key file and RUJUKAN_LOG_ORIGIN"
            )
        legacy = state.legacy_position
        state.legacy_position = 0
        session.add(state)
        if legacy > 0:
            rows = session.exec(
                select(ReferralEvent.position, ReferralEvent.payload).where(
                    col(ReferralEvent.signature).is_(None),
                    col(ReferralEvent.position) >= 1,
                    col(ReferralEvent.position) <= legacy,
                )
            ).all()
            signed = [{"p": position, "s": ctx.signing.sign_event(payload)} for position, payload in rows]
            if signed:
                session.connection().execute(
                    update(EVENTS).where(EVENTS.c.position == bindparam("p")).values(signature=bindparam("s")), signed
                )


UNSEQUENCED = (col(ReferralEvent.log_index).is_(None), col(ReferralEvent.refused).is_(None))


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """What the relay reads of a stored event (columns, not an ORM object: it reads thousands a second)."""

    position: int
    event_id: str
    referral_id: str
    event_type: str
    payload: bytes
    signature: bytes | None
    log_index: int | None


STORED = (
    EVENTS.c.position,
    EVENTS.c.event_id,
    EVENTS.c.referral_id,
    EVENTS.c.event_type,
    EVENTS.c.payload,
    EVENTS.c.signature,
    EVENTS.c.log_index,
)


class CheckedSignatures:
    """The signatures one relay found good when it sequenced events, by position: publishing such an event
    needs no second verification while its signature column holds the same bytes and its bytes are its
    leaf (the leaf was made from the very bytes that were verified). Bounded: emptied when full, after
    which events are simply verified again."""

    LIMIT = 200_000

    def __init__(self) -> None:
        self._good: dict[int, bytes] = {}

    def add(self, position: int, signature: bytes) -> None:
        if len(self._good) >= self.LIMIT:
            self._good.clear()
        self._good[position] = signature

    def holds(self, event: StoredEvent) -> bool:
        return event.signature is not None and self._good.pop(event.position, None) == event.signature


def sequence(ctx: ReferralContext, limit: int, checked: CheckedSignatures | None = None) -> int:
    """Give log indexes to up to ``limit`` stored events that have none, refusing those without a good
    signature; how many got one (each good signature is noted in ``checked``). An idle round only reads
    (on SQLite a write transaction would hold up the API's writers)."""
    with ctx.engine.connect() as probe:
        if fetch_one(probe, statements(probe).any_unsequenced, ()) is None:
            return 0
    with ctx.transaction() as session:
        state = log_state(session)
        rows = [
            StoredEvent(*row)
            for row in session.execute(
                columns(*STORED).where(*UNSEQUENCED).order_by(EVENTS.c.position).limit(limit)
            ).all()
        ]
        now, public = ctx.clock(), ctx.signing.public
        accepted: list[tuple[int, int]] = []  # (log index, position)
        leaves: list[bytes] = []
        names: dict[int, dict[str, str]] = {}
        for row in rows:
            problem = public.event_problem(row.payload, row.signature)
            if problem is not None:
                refuse(session, row.position, problem, now)
                continue
            if checked is not None and row.signature is not None:
                checked.add(row.position, row.signature)
            index = state.size + len(leaves)
            leaves.append(tlog.leaf_hash(row.payload))
            names[index] = {"event_id": row.event_id, "referral_id": row.referral_id}
            accepted.append((index, row.position))
        if not leaves:
            return 0
        connection = connection_of(session)
        made = statements(connection)
        # unpublished too: an old relay may have marked it without its leaf
        execute_many(connection, made.give_log_index, accepted)
        nodes = tlog.appended(state.size, leaves, StoredNodes(session))
        made.insert_node.run(
            connection,
            (
                {"level": level, "idx": index, "hash": h, **(names.get(index, NO_NAME) if level == 0 else NO_NAME)}
                for level, index, h in nodes
            ),
        )
        state.size += len(leaves)
        state.updated_at = now
        session.add(state)
        return len(leaves)


def refuse(session: Session, position: int, reason: str, now: dt.datetime) -> None:
    """Mark a stored event as one the relay will not publish (it stays, for the operator to deal with)."""
    session.execute(
        update(ReferralEvent).where(col(ReferralEvent.position) == position).values(refused=reason, refused_at=now)
    )


def unpublished_events(ctx: ReferralContext, limit: int, checked: CheckedSignatures | None = None) -> list[StoredEvent]:
    """The oldest sequenced events not yet (re)published, in log index order, each still what was
    sequenced: a good signature (verified again unless ``checked`` holds it), and bytes that are its leaf.
    Any other is refused (changed in the store after it was sequenced, or given a log index by someone
    else) and left out."""
    with ctx.engine.connect() as connection:  # on the driver: the relay reads thousands a second
        made = statements(connection)
        rows = [StoredEvent(*row) for row in fetch_all(connection, made.unpublished, (limit,))]
        leaves: dict[int, bytes] = {}
        indexes = [r.log_index for r in rows]
        for start in range(0, len(indexes), 500):
            chunk = indexes[start : start + 500]
            marks = ", ".join("?" for _ in chunk)  # a count of placeholders, no value in the text
            sql = f"SELECT idx, hash FROM log_nodes WHERE level = 0 AND idx IN ({marks})"  # noqa: S608
            leaves.update(fetch_all(connection, placeholders(sql, connection.dialect), chunk))
    public = ctx.signing.public
    problems: dict[int, str] = {}
    for row in rows:
        leaf = leaves.get(row.log_index) if row.log_index is not None else None
        good_leaf = leaf == tlog.leaf_hash(row.payload)
        known = good_leaf and checked is not None and checked.holds(row)
        problem = None if known else public.event_problem(row.payload, row.signature)
        if problem is None and not good_leaf:
            problem = "the event's bytes are not those of its leaf in the log"
        if problem is not None:
            problems[row.position] = problem
    if problems:
        with ctx.transaction() as session:
            for position, problem in problems.items():
                refuse(session, position, problem, ctx.clock())
    return [row for row in rows if row.position not in problems]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A stored event the relay will not publish, and why (no personal data: ids and a reason)."""

    position: int
    event_id: str
    referral_id: str
    value: bytes
    reason: str


def refusals_to_dead_letter(ctx: ReferralContext, limit: int = 100) -> list[Refusal]:
    """Refused events not on the dead-letter topic yet, oldest first. Asked every relay round: whether there
    is one is asked of the driver first (an ORM query and its session cost 30 times more)."""
    with ctx.engine.connect() as connection:
        if fetch_one(connection, statements(connection).waiting_refusal, ()) is None:
            return []
    with ctx.read() as session:
        rows = session.exec(
            select(ReferralEvent)
            .where(col(ReferralEvent.refused).is_not(None), col(ReferralEvent.dead_lettered_at).is_(None))
            .order_by(col(ReferralEvent.position))
            .limit(limit)
        ).all()
        return [Refusal(r.position or 0, r.event_id, r.referral_id, r.payload, r.refused or "") for r in rows]


def mark_dead_lettered(ctx: ReferralContext, position: int) -> None:
    with ctx.transaction() as session:
        session.execute(
            update(ReferralEvent).where(col(ReferralEvent.position) == position).values(dead_lettered_at=ctx.clock())
        )


def leaf_names(engine: Engine, indexes: list[int]) -> dict[int, tuple[str, str]]:
    """The event and referral ids the store recorded for these log indexes (to name what a replay misses)."""
    found: dict[int, tuple[str, str]] = {}
    with Session(engine) as session:
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
    return (
        f"{refused} stored event(s) refused by the relay: a missing or bad signature, or bytes changed after "
        "the event got its leaf (see the dead letters)"
    )
