"""Subscriptions: where an agency (or a coordinator, for SLA breaches) wants its webhooks, and the
secrets that sign them.

Setting a subscription checks its URL against the SSRF guard and issues a new secret, returned once;
the secret it replaces keeps signing deliveries for the overlap window, so a receiver can switch over
without losing a delivery, and is deleted once the window has passed. Signing needs a secret in the
clear, so it is stored sealed under the notifier key (``secretbox``) and opened only to sign; the API and
the CLI only ever show a hint of a stored secret.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel
from sqlmodel import Session, col, select

from rujukan.core.db import Database
from rujukan.notifier.destinations import Resolver, check_destination, resolve
from rujukan.notifier.errors import InvalidSubscription, NoSubscription
from rujukan.notifier.models import SubscriptionRow, SubscriptionSecret
from rujukan.notifier.routing import BREACH_TYPE, KNOWN_TYPES
from rujukan.notifier.secretbox import SecretBox
from rujukan.notifier.settings import NotifierSettings
from rujukan.notifier.signing import hint, new_secret

MAX_URL_LENGTH = 2000


class OwnerKind(StrEnum):
    AGENCY = "agency"
    COORDINATOR = "coordinator"


@dataclass(frozen=True, slots=True)
class Owner:
    kind: OwnerKind
    name: str

    def __str__(self) -> str:
        return self.name if self.kind is OwnerKind.AGENCY else f"coordinator {self.name}"


class SecretView(BaseModel):
    hint: str
    created_at: dt.datetime
    expires_at: dt.datetime | None


class SubscriptionView(BaseModel):
    id: str
    owner_kind: OwnerKind
    owner: str
    url: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    secrets: list[SecretView]
    created_at: dt.datetime
    updated_at: dt.datetime


def event_types_for(owner: Owner, requested: Sequence[str] | None) -> list[str]:
    """The webhook types to subscribe to; empty means every type the owner can hear of."""
    known = KNOWN_TYPES
    chosen = sorted({t.strip() for t in requested or () if t.strip()})
    unknown = [t for t in chosen if t not in known]
    if unknown:
        raise InvalidSubscription(f"unknown event types {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if owner.kind is OwnerKind.COORDINATOR:
        if chosen and chosen != [BREACH_TYPE]:
            raise InvalidSubscription(f"coordinators can subscribe to {BREACH_TYPE} only")
        return [BREACH_TYPE]
    return chosen


def set_subscription(
    db: Database,
    settings: NotifierSettings,
    owner: Owner,
    *,
    url: str,
    event_types: Sequence[str] | None = None,
    now: dt.datetime | None = None,
    resolver: Resolver = resolve,
) -> tuple[SubscriptionView, str]:
    """Create or change the owner's subscription (enabling it again) and issue a new secret: (view, secret)."""
    now = now or dt.datetime.now(dt.UTC)
    if len(url) > MAX_URL_LENGTH:
        raise InvalidSubscription(f"the webhook URL is longer than {MAX_URL_LENGTH} characters")
    types = event_types_for(owner, event_types)
    check_destination(
        url,
        allowed_networks=settings.webhook_allowed_networks,
        allow_http=settings.webhook_allow_http,
        resolver=resolver,
    )
    with db.transaction() as session:
        row = _find(session, owner)
        if row is None:
            row = SubscriptionRow(
                id=str(uuid.uuid4()),
                owner_kind=owner.kind.value,
                owner=owner.name,
                url=url,
                event_types=",".join(types),
                created_at=now,
                updated_at=now,
            )
        row.url, row.event_types, row.enabled, row.disabled_reason, row.updated_at = (
            url,
            ",".join(types),
            True,
            None,
            now,
        )
        session.add(row)
        secret = _new_secret(session, row.id, now=now, overlap=settings.secret_overlap(), box=settings.secret_box())
        return _view(session, row, now), secret


def rotate_secret(
    db: Database, owner: Owner, *, overlap: dt.timedelta, box: SecretBox, now: dt.datetime | None = None
) -> tuple[SubscriptionView, str]:
    """Issue a new secret; the current ones keep signing for ``overlap`` (0: stop at once)."""
    now = now or dt.datetime.now(dt.UTC)
    with db.transaction() as session:
        row = _find(session, owner)
        if row is None:
            raise NoSubscription(f"{owner} has no webhook subscription")
        row.updated_at = now
        session.add(row)
        secret = _new_secret(session, row.id, now=now, overlap=overlap, box=box)
        return _view(session, row, now), secret


def get_subscription(db: Database, owner: Owner, *, now: dt.datetime | None = None) -> SubscriptionView:
    with db.read() as session:
        row = _find(session, owner)
        if row is None:
            raise NoSubscription(f"{owner} has no webhook subscription")
        return _view(session, row, now or dt.datetime.now(dt.UTC))


def list_subscriptions(db: Database, *, now: dt.datetime | None = None) -> list[SubscriptionView]:
    now = now or dt.datetime.now(dt.UTC)
    with db.read() as session:
        rows = session.exec(
            select(SubscriptionRow).order_by(col(SubscriptionRow.owner_kind), col(SubscriptionRow.owner))
        )
        return [_view(session, row, now) for row in rows.all()]


def signing_secrets(session: Session, subscription_id: str, now: dt.datetime, box: SecretBox) -> list[str]:
    """The secrets that sign a delivery now, newest first (opened from their sealed form)."""
    rows = session.exec(
        select(SubscriptionSecret)
        .where(SubscriptionSecret.subscription_id == subscription_id)
        .order_by(col(SubscriptionSecret.created_at).desc())
    ).all()
    return [box.open(r.secret, secret_id=r.id) for r in rows if r.expires_at is None or r.expires_at > now]


def _find(session: Session, owner: Owner) -> SubscriptionRow | None:
    return session.exec(
        select(SubscriptionRow).where(
            SubscriptionRow.owner_kind == owner.kind.value, SubscriptionRow.owner == owner.name
        )
    ).first()


def _new_secret(
    session: Session, subscription_id: str, *, now: dt.datetime, overlap: dt.timedelta, box: SecretBox
) -> str:
    ends = now + overlap
    for old in session.exec(select(SubscriptionSecret).where(SubscriptionSecret.subscription_id == subscription_id)):
        if old.expires_at is None or old.expires_at > ends:
            old.expires_at = ends
            session.add(old)
    secret, secret_id = new_secret(), str(uuid.uuid4())
    session.add(
        SubscriptionSecret(
            id=secret_id,
            subscription_id=subscription_id,
            secret=box.seal(secret, secret_id=secret_id),
            hint=hint(secret),
            created_at=now,
        )
    )
    session.flush()
    return secret


def _view(session: Session, row: SubscriptionRow, now: dt.datetime) -> SubscriptionView:
    secrets = session.exec(
        select(SubscriptionSecret)
        .where(SubscriptionSecret.subscription_id == row.id)
        .order_by(col(SubscriptionSecret.created_at).desc())
    ).all()
    return SubscriptionView(
        id=row.id,
        owner_kind=OwnerKind(row.owner_kind),
        owner=row.owner,
        url=row.url,
        event_types=[t for t in row.event_types.split(",") if t],
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        secrets=[
            SecretView(hint=s.hint, created_at=s.created_at, expires_at=s.expires_at)
            for s in secrets
            if s.expires_at is None or s.expires_at > now
        ],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
