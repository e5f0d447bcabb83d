"""One attempt of one delivery, seen from the database: what a worker is handed and what it hands back.

The worker threads touch no database: everything an attempt needs is read up front into a :class:`Job`
(the delivery, its subscription's URL and the secrets that sign it now), and what the attempt came to
returns as an :class:`Outcome` (the delivery's :class:`~rujukan.notifier.retry.NextState`).
:func:`store_outcomes` writes many outcomes in one transaction: each delivery row's new values and, after
a 410 Gone, the subscription disabled. A delivery marked failed there is published to the dead-letter
topic afterwards (:mod:`rujukan.notifier.dead_letters`).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from rujukan.core import metrics
from rujukan.core.db import Database
from rujukan.notifier.models import DeliveryRow, SubscriptionRow
from rujukan.notifier.retry import DeliveryStatus, NextState, Verdict
from rujukan.notifier.secretbox import SecretBox
from rujukan.notifier.subscriptions import signing_secrets

log = logging.getLogger("rujukan.notifier")


@dataclass(frozen=True, slots=True)
class Job:
    """One attempt, with everything it needs read up front (the worker touches no database)."""

    delivery_id: int
    subscription_id: str
    owner: str
    event_id: str
    payload: str
    attempts: int
    first_attempt_at: dt.datetime | None
    url: str | None  # None: the subscription is disabled or gone
    secrets: tuple[str, ...]
    disabled_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    job: Job
    state: NextState


def read_jobs(session: Session, rows: list[DeliveryRow], *, now: dt.datetime, box: SecretBox) -> list[Job]:
    """The jobs of ``rows``, each subscription (and its secrets) read once."""
    subscriptions: dict[str, tuple[SubscriptionRow | None, tuple[str, ...]]] = {}
    for subscription_id in {row.subscription_id for row in rows}:
        found = session.get(SubscriptionRow, subscription_id)
        subscriptions[subscription_id] = (found, tuple(signing_secrets(session, subscription_id, now, box)))
    jobs = []
    for row in rows:
        subscription, secrets = subscriptions[row.subscription_id]
        enabled = subscription is not None and subscription.enabled
        jobs.append(
            Job(
                delivery_id=int(row.id or 0),
                subscription_id=row.subscription_id,
                owner=row.owner,
                event_id=row.event_id,
                payload=row.payload,
                attempts=row.attempts,
                first_attempt_at=row.first_attempt_at,
                url=subscription.url if subscription is not None and enabled else None,
                secrets=secrets,
                disabled_reason=subscription.disabled_reason if subscription is not None else "removed",
            )
        )
    return jobs


def store_outcomes(db: Database, outcomes: list[Outcome]) -> None:
    """Every outcome in one transaction (one commit for many attempts); then count and log them."""
    with db.transaction() as session:
        table = DeliveryRow.__table__  # type: ignore[attr-defined]  # Core: no ORM bookkeeping per row
        for o in outcomes:
            values = _row_values(o.state)
            session.connection().execute(table.update().where(table.c.id == o.job.delivery_id).values(**values))
            if o.state.verdict is Verdict.GONE:
                _disable(session, o.job.subscription_id, "the receiver answered 410 Gone", o.state.last_attempt_at)
    for o in outcomes:
        metrics.WEBHOOK_ATTEMPTS.labels(outcome=o.state.verdict.value).inc()
        if o.state.status is DeliveryStatus.FAILED:
            metrics.DEAD_LETTERS.labels(reason="webhook_failed").inc()
            log.warning(
                "webhook delivery %s to %s failed for good: %s", o.job.delivery_id, o.job.owner, o.state.last_error
            )


def _row_values(state: NextState) -> dict[str, Any]:
    """The columns an attempt sets: a delivery still pending keeps its status and gets its next time."""
    values: dict[str, Any] = {
        "attempts": state.attempts,
        "first_attempt_at": state.first_attempt_at,
        "last_attempt_at": state.last_attempt_at,
        "last_status_code": state.last_status_code,
        "last_error": state.last_error,
    }
    if state.status is DeliveryStatus.PENDING:
        values["next_attempt_at"] = state.next_attempt_at
    else:
        values["status"] = state.status.value
    if state.delivered_at is not None:
        values["delivered_at"] = state.delivered_at
    return values


def _disable(session: Session, subscription_id: str, reason: str, now: dt.datetime) -> None:
    subscription = session.get(SubscriptionRow, subscription_id)
    if subscription is not None and subscription.enabled:
        subscription.enabled, subscription.disabled_reason, subscription.updated_at = False, reason, now
        session.add(subscription)
        log.warning("webhook subscription of %s disabled: %s", subscription.owner, reason)
