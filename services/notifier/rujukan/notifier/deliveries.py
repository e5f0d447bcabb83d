"""The delivery log: what was sent to whom, how it went, and redelivery of what failed."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel
from sqlalchemy import update
from sqlmodel import col, select

from rujukan.core.db import Database
from rujukan.notifier.errors import NoDelivery, NotRedeliverable
from rujukan.notifier.models import DeliveryRow
from rujukan.notifier.retry import DeliveryStatus

MAX_PAGE = 500


class DeliveryView(BaseModel):
    id: int
    owner: str
    event_id: str
    referral_id: str
    type: str
    status: DeliveryStatus
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None
    last_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: dt.datetime | None


class DeliveryPage(BaseModel):
    items: list[DeliveryView]
    next_before: int | None  # pass as ``before`` for the next (older) page


def view(row: DeliveryRow) -> DeliveryView:
    return DeliveryView(
        id=int(row.id or 0),
        owner=row.owner,
        event_id=row.event_id,
        referral_id=row.referral_id,
        type=row.webhook_type,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at if row.status == DeliveryStatus.PENDING else None,
        last_attempt_at=row.last_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
    )


def list_deliveries(
    db: Database,
    *,
    owner: str | None = None,
    status: DeliveryStatus | None = None,
    referral_id: str | None = None,
    before: int | None = None,
    limit: int = 100,
) -> DeliveryPage:
    """Newest first; ``owner`` None lists every owner's (operators only)."""
    limit = max(1, min(limit, MAX_PAGE))
    query = select(DeliveryRow).order_by(col(DeliveryRow.id).desc()).limit(limit + 1)
    if owner is not None:
        query = query.where(DeliveryRow.owner == owner)
    if status is not None:
        query = query.where(DeliveryRow.status == status.value)
    if referral_id is not None:
        query = query.where(DeliveryRow.referral_id == referral_id)
    if before is not None:
        query = query.where(col(DeliveryRow.id) < before)
    with db.read() as session:
        rows = session.exec(query).all()
    items = [view(row) for row in rows[:limit]]
    return DeliveryPage(items=items, next_before=items[-1].id if len(rows) > limit else None)


def redeliver(
    db: Database, delivery_id: int, *, owner: str | None = None, now: dt.datetime | None = None
) -> DeliveryView:
    """Send a failed (or delivered) delivery again, with a fresh retry window; ``owner`` None: any owner's."""
    now = now or dt.datetime.now(dt.UTC)
    with db.transaction() as session:
        row = session.get(DeliveryRow, delivery_id)
        if row is None or (owner is not None and row.owner != owner):
            raise NoDelivery(f"no delivery {delivery_id}")
        if row.status == DeliveryStatus.PENDING:
            raise NotRedeliverable(f"delivery {delivery_id} is still pending; it will be attempted again by itself")
        session.execute(
            update(DeliveryRow)
            .where(col(DeliveryRow.id) == delivery_id)
            .values(
                status=DeliveryStatus.PENDING.value,
                attempts=0,
                first_attempt_at=None,
                next_attempt_at=now,
                dead_lettered_at=None,
            )
        )
        session.refresh(row)
        return view(row)


def failed_ids(db: Database, *, owner: str | None = None) -> list[int]:
    query = (
        select(DeliveryRow.id).where(DeliveryRow.status == DeliveryStatus.FAILED.value).order_by(col(DeliveryRow.id))
    )
    if owner is not None:
        query = query.where(DeliveryRow.owner == owner)
    with db.read() as session:
        return [int(i) for i in session.exec(query).all() if i is not None]
