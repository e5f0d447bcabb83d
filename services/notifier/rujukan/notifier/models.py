"""Tables of the notifier.

The consumer writes, in one transaction per batch: the parties of each referral it has seen, one
delivery row per (subscription, event) it must send, the ids of the events it processed and its
positions. The dispatcher then works through the deliveries. No identifying data is stored: payloads
are thin (codes, ids, statuses), built before they are stored.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Column, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from rujukan.core.db import utc_column


class NotifierTable(SQLModel, registry=registry()):
    """Base of the notifier tables: their own metadata, apart from other services' tables."""


class SubscriptionRow(NotifierTable, table=True):
    """Where one agency (or one coordinator, for SLA breaches) wants to hear of events."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("owner_kind", "owner", name="uq_subscriptions_owner"),)

    id: str = Field(primary_key=True, max_length=36)
    owner_kind: str = Field(max_length=12)  # agency | coordinator
    owner: str = Field(max_length=200)  # agency code, or the coordinator's name
    url: str = Field(sa_column=Column(Text, nullable=False))
    event_types: str = Field(sa_column=Column(Text, nullable=False))  # comma separated webhook types; "" = all
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, max_length=200)
    created_at: dt.datetime = Field(sa_column=utc_column())
    updated_at: dt.datetime = Field(sa_column=utc_column())


class SubscriptionSecret(NotifierTable, table=True):
    """A signing secret of a subscription; a replaced one keeps signing until ``expires_at``."""

    __tablename__ = "subscription_secrets"

    id: str = Field(primary_key=True, max_length=36)
    subscription_id: str = Field(index=True, max_length=36)
    secret: str = Field(max_length=120)
    hint: str = Field(max_length=20)
    created_at: dt.datetime = Field(sa_column=utc_column())
    expires_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class ReferralParties(NotifierTable, table=True):
    """Who the parties of a referral are and where it stands, as far as the log has told."""

    __tablename__ = "referral_parties"

    referral_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(max_length=36)
    from_agency: str = Field(max_length=40)
    to_agency: str = Field(max_length=40)
    status: str = Field(max_length=20)
    last_seq: int


class DeliveryRow(NotifierTable, table=True):
    """One webhook to send: pending until delivered or failed for good (then dead-lettered)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id", name="uq_deliveries_subscription_event"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_queue", "subscription_id", "referral_id", "status", "id"),
        Index("ix_deliveries_owner", "owner", "id"),
        Index("ix_deliveries_dead_letter", "status", "dead_lettered_at"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    )
    subscription_id: str = Field(max_length=36)
    owner: str = Field(max_length=200)  # the subscription's owner, kept for the delivery log
    event_id: str = Field(max_length=36)
    referral_id: str = Field(max_length=36)
    webhook_type: str = Field(max_length=40)
    payload: str = Field(sa_column=Column(Text, nullable=False))  # the JSON body, thin by construction
    status: str = Field(max_length=12)  # a DeliveryStatus value (retry.py): pending | delivered | failed
    attempts: int = 0
    created_at: dt.datetime = Field(sa_column=utc_column())
    first_attempt_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    next_attempt_at: dt.datetime = Field(sa_column=utc_column())
    last_attempt_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=200)
    delivered_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    dead_lettered_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class ProcessedEvent(NotifierTable, table=True):
    """Event ids already routed (or dead-lettered): a redelivered event creates no second delivery."""

    __tablename__ = "processed_events"

    event_id: str = Field(sa_column=Column(String(36), primary_key=True))
    outcome: str = Field(max_length=12)  # routed | deadletter


class ConsumerPosition(NotifierTable, table=True):
    """Next offset to read per partition, valid for one topic id (a new id means a reset log)."""

    __tablename__ = "consumer_positions"

    consumer: str = Field(primary_key=True, max_length=100)
    topic: str = Field(primary_key=True, max_length=250)
    partition: int = Field(primary_key=True)
    topic_id: str = Field(max_length=36)
    next_offset: int


class PublisherState(NotifierTable, table=True):
    """The id of the dead-letter topic the failed deliveries were published to (see the core outbox)."""

    __tablename__ = "publisher_state"

    topic: str = Field(primary_key=True, max_length=250)
    topic_id: str = Field(max_length=36)
