"""The referral service's outboxes: the event store (the relay), the record of disclosures and the log's
signed checkpoints, each published by rujukan.core.kafka.outbox under the loop supervisor.

Each relay round first sequences the newest stored events into the transparency log
(:mod:`rujukan.referral.transparency`): an event whose signature is missing or bad (or, when it is
republished, whose bytes are not its leaf) is refused, sent to the dead-letter topic with the reason, and
raised as an alarm in ``/readyz``; it is never published. Events go out in log index order with
key = referral_id and the headers ``event_type``, ``event_id``, ``log_index`` (decimal) and
``signature``. After publishing, the round signs a checkpoint when one is due. See the outbox module for
the guarantees (at least once, in order, republish after a broker log reset, producer rebuilt after
errors).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select

from rujukan.core.errors import RujukanError
from rujukan.core.fast_sql import connection_of, execute_many
from rujukan.core.kafka.deadletter import DeadLetterPublisher, SourcePosition
from rujukan.core.kafka.outbox import OutboxMessage, OutboxPublisher
from rujukan.core.lease import once
from rujukan.core.loops import Supervisor
from rujukan.referral.checkpoints import published_size, sign_checkpoint
from rujukan.referral.context import ReferralContext
from rujukan.referral.housekeeping import housekeeping
from rujukan.referral.models import DirectoryEvent, Disclosure, LogCheckpoint, ReferralEvent, RelayState
from rujukan.referral.pathways import scheduler
from rujukan.referral.settings import ReferralSettings
from rujukan.referral.statements import statements
from rujukan.referral.transparency import (
    CheckedSignatures,
    StoredEvent,
    mark_dead_lettered,
    refusals_to_dead_letter,
    sequence,
    unpublished_events,
)

BATCH_SIZE = 1000
NOW_AND_THEN_IDLE_S = 0.8  # the outboxes written to now and then wait up to this long when idle (no relay)
log = logging.getLogger("rujukan.relay")


class RefusedEvent(RujukanError):
    """A stored event the relay does not publish: a missing or bad signature, or bytes that are not its leaf
    (the reason says which)."""


class _StoredEvents:
    """A table of stored events with a ``published_at`` column, seen as the outbox of one topic; which
    table, which column names a row and what a row becomes is the subclass's."""

    table: Any
    position: str  # the column that names a row for mark_published
    order: str  # the column rows are published in the order of

    def __init__(self, ctx: ReferralContext, topic: str) -> None:
        self._ctx = ctx
        self._topic = topic

    def message(self, row: Any) -> OutboxMessage:
        raise NotImplementedError

    def unpublished(self, limit: int) -> list[OutboxMessage]:
        query = (
            select(self.table)
            .where(col(self.table.published_at).is_(None))
            .order_by(col(getattr(self.table, self.order)))
            .limit(limit)
        )
        with self._ctx.read() as session:
            return [self.message(row) for row in session.exec(query).all()]

    def mark_published(self, positions: list[int | str]) -> None:
        with self._ctx.transaction() as session:
            session.execute(
                update(self.table)
                .where(col(getattr(self.table, self.position)).in_(positions))
                .values(published_at=self._ctx.clock())
            )

    def backlog(self) -> int:
        query = select(func.count()).where(col(self.table.published_at).is_(None))
        with self._ctx.read() as session:
            return int(session.exec(query).one())

    def stored_topic_id(self) -> str | None:
        with self._ctx.read() as session:
            state = session.get(RelayState, self._topic)
            return state.topic_id if state else None

    def reset(self, topic_id: str, *, republish: bool) -> None:
        with self._ctx.transaction() as session:
            if republish:
                session.execute(update(self.table).values(published_at=None))
            session.merge(RelayState(topic=self._topic, topic_id=topic_id, updated_at=self._ctx.clock()))


class EventStoreOutbox(_StoredEvents):
    """The referral event store seen as an outbox: the events given a log index, in log index order."""

    table, position, order = ReferralEvent, "position", "log_index"

    def __init__(self, ctx: ReferralContext, topic: str) -> None:
        super().__init__(ctx, topic)
        self.checked = CheckedSignatures()  # what this relay verified as it sequenced

    def unpublished(self, limit: int) -> list[OutboxMessage]:
        return [self.message(row) for row in unpublished_events(self._ctx, limit, self.checked)]

    def mark_published(self, positions: list[int | str]) -> None:
        """On the driver (the relay marks thousands a second)."""
        with self._ctx.transaction() as session:
            connection = connection_of(session)
            made = statements(connection)
            now = made.published_at(self._ctx.clock())
            execute_many(connection, made.mark_published, [(now, position) for position in positions])

    def backlog(self) -> int:
        """Refused events are not a backlog: they are never published (the readiness alarm says so)."""
        query = select(func.count()).where(
            col(ReferralEvent.published_at).is_(None), col(ReferralEvent.refused).is_(None)
        )
        with self._ctx.read() as session:
            return int(session.exec(query).one())

    def message(self, row: StoredEvent) -> OutboxMessage:
        return OutboxMessage(
            position=row.position,
            key=row.referral_id.encode(),
            value=row.payload,
            headers=[
                ("event_type", row.event_type.encode()),
                ("event_id", row.event_id.encode()),
                ("log_index", str(row.log_index).encode()),
                ("signature", row.signature or b""),
            ],
        )


class Relay(OutboxPublisher):
    """Sequences, publishes and checkpoints the event store (see the module docstring)."""

    def __init__(self, ctx: ReferralContext, settings: ReferralSettings, *, batch_size: int = BATCH_SIZE) -> None:
        topic = settings.topics.referral_events
        self._events = EventStoreOutbox(ctx, topic)
        super().__init__(settings, self._events, topic=topic, name="relay", batch_size=batch_size)
        self._ctx = ctx
        self.checked = self._events.checked
        self._dead_letter_topic = settings.topics.dead_letter
        self._checkpoint_every_s = settings.checkpoint_interval_s
        self._last_checkpoint = -settings.checkpoint_interval_s

    def run_once(self) -> int:
        sequence(self._ctx, self._batch_size, self.checked)
        published = super().run_once()
        self._dead_letter_refused()
        now = time.monotonic()
        if now - self._last_checkpoint >= self._checkpoint_every_s:
            self._last_checkpoint = now
            sign_checkpoint(self._ctx)
        return published

    def _dead_letter_refused(self) -> None:
        """Each refused event to the dead-letter topic once (marked in the store when the broker took it),
        and to the log."""
        refusals = refusals_to_dead_letter(self._ctx)
        if not refusals:
            return
        dead_letters = DeadLetterPublisher(self._producer_or_new(), topic=self._dead_letter_topic, consumer="relay")
        for refusal in refusals:
            log.error(
                "relay: event %s of referral %s refused: %s; it stays in the event store, unpublished",
                refusal.event_id,
                refusal.referral_id,
                refusal.reason,
            )
            dead_letters.publish(
                source=SourcePosition(topic="event-store", partition=0, offset=refusal.position),
                key=refusal.referral_id.encode(),
                value=refusal.value,
                error=RefusedEvent(f"event {refusal.event_id}: {refusal.reason}"),
            )
            mark_dead_lettered(self._ctx, refusal.position)


class DisclosureOutbox(_StoredEvents):
    """Stored SealedDataDisclosed events seen as an outbox of the audit topic: a disclosure whose
    publication failed when the auditor asked is published as soon as the broker takes it."""

    table, position, order = Disclosure, "event_id", "occurred_at"

    def message(self, row: Disclosure) -> OutboxMessage:
        return OutboxMessage(
            position=row.event_id,
            key=row.event_id.encode(),
            value=row.payload,
            headers=[("event_type", b"SealedDataDisclosed"), ("event_id", row.event_id.encode())],
        )


class DirectoryOutbox(_StoredEvents):
    """Stored directory changes seen as an outbox of the directory topic (key ``AGENCY/service_type``)."""

    table, position, order = DirectoryEvent, "event_id", "occurred_at"

    def message(self, row: DirectoryEvent) -> OutboxMessage:
        return OutboxMessage(
            position=row.event_id,
            key=row.key.encode(),
            value=row.payload,
            headers=[("event_type", row.event_type.encode()), ("event_id", row.event_id.encode())],
        )


class CheckpointOutbox(_StoredEvents):
    """Signed checkpoints seen as an outbox of the checkpoints topic: each note as UTF-8 text, as it was
    signed (C2SP tlog-checkpoint in a signed note), keyed by the log's origin. A checkpoint goes out only
    once every event below its size is on the events topic (again, after a broker log reset): a replay
    that reads the checkpoints first finds each one's events after it."""

    table, position, order = LogCheckpoint, "tree_size", "tree_size"

    def unpublished(self, limit: int) -> list[OutboxMessage]:
        with self._ctx.read() as session:
            size = published_size(session)
            query = (
                select(LogCheckpoint)
                .where(col(LogCheckpoint.published_at).is_(None), col(LogCheckpoint.tree_size) <= size)
                .order_by(col(LogCheckpoint.tree_size))
                .limit(limit)
            )
            return [self.message(row) for row in session.exec(query).all()]

    def reset(self, topic_id: str, *, republish: bool) -> None:
        """A new checkpoints topic means a broker that lost its logs: the events topic too, whether or not
        the relay noticed yet. Its events are marked unpublished here as well, so that no checkpoint goes
        out before them (the relay, noticing in turn, marks them again: harmless)."""
        super().reset(topic_id, republish=republish)
        if republish:
            with self._ctx.transaction() as session:
                session.execute(update(ReferralEvent).values(published_at=None))

    def message(self, row: LogCheckpoint) -> OutboxMessage:
        return OutboxMessage(
            position=row.tree_size,
            key=self._ctx.signing.origin.encode(),
            value=row.note.encode(),
            headers=[("content-type", b"text/plain; charset=utf-8"), ("tree_size", str(row.tree_size).encode())],
        )


def referral_loops(ctx: ReferralContext, settings: ReferralSettings) -> Supervisor:
    """The referral service's background loops (the relay, the disclosure, directory and checkpoint
    outboxes, housekeeping and the pathway scheduler) under one supervisor, not started. Any number of
    instances may run them on one database: each loop works in one instance at a time, under a lease; a
    standby takes over within seconds of the active one's death."""
    audit = settings.topics.audit_events
    idle = NOW_AND_THEN_IDLE_S
    disclosures = OutboxPublisher(
        settings, DisclosureOutbox(ctx, audit), topic=audit, name="disclosures", max_idle_s=idle
    )
    checkpoints_topic = settings.topics.audit_checkpoints
    checkpoints = OutboxPublisher(
        settings, CheckpointOutbox(ctx, checkpoints_topic), topic=checkpoints_topic, name="checkpoints", max_idle_s=idle
    )
    tidying = housekeeping(ctx, idempotency_hours=settings.idempotency_hours, retention_days=settings.retention_days)
    directory_topic = settings.topics.directory_events
    directory = OutboxPublisher(
        settings, DirectoryOutbox(ctx, directory_topic), topic=directory_topic, name="directory", max_idle_s=idle
    )
    return (
        Supervisor()
        .add("relay", once(ctx.engine, "relay", Relay(ctx, settings)))
        .add("disclosures", once(ctx.engine, "disclosures", disclosures))
        .add("directory", once(ctx.engine, "directory", directory))
        .add("checkpoints", once(ctx.engine, "checkpoints", checkpoints))
        .add("housekeeping", once(ctx.engine, "housekeeping", tidying))
        .add("pathways", once(ctx.engine, "pathways", scheduler(ctx)))
    )
