"""Tables of the tracker. The consumer writes handoffs, history, processed event ids, positions and
detected breaches in one transaction per batch; the API only reads (coordinators never see identifying
data: none is stored here)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Column, Index, Integer, String, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from rujukan.core.db import utc_column


class TrackerTable(SQLModel, registry=registry()):
    """Base of the tracker tables: their own metadata, apart from other services' tables."""


class HandoffRow(TrackerTable, table=True):
    __tablename__ = "handoffs"
    __table_args__ = (
        Index("ix_handoffs_status_updated", "status", "updated_at"),
        Index("ix_handoffs_to_status", "to_agency", "status"),
        Index("ix_handoffs_from_status", "from_agency", "status"),
        Index("ix_handoffs_region_created", "region_code", "created_at"),
        Index("ix_handoffs_ack_due", "ack_stopped_at", "ack_due_at"),
        Index("ix_handoffs_respond_due", "respond_stopped_at", "respond_due_at"),
    )

    referral_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    parent_referral_id: str | None = Field(default=None, max_length=36)
    continues_referral_id: str | None = Field(default=None, max_length=36)
    planned_for: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    sent_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    pathway_id: str | None = Field(default=None, index=True, max_length=36)
    pathway_template: str | None = Field(default=None, max_length=60)
    pathway_step: str | None = Field(default=None, max_length=60)
    pathway_anchor_date: dt.date | None = None
    from_agency: str = Field(max_length=40)
    to_agency: str = Field(max_length=40)
    service_type: str = Field(max_length=40)
    urgency: str = Field(max_length=20)
    status: str = Field(max_length=20)
    subject_id: str = Field(index=True, max_length=40)
    subject_category: str = Field(max_length=40)
    subject_sex: str = Field(max_length=10)
    subject_age_band: str = Field(max_length=20)
    region_code: str = Field(max_length=13)
    created_at: dt.datetime = Field(sa_column=utc_column())
    updated_at: dt.datetime = Field(sa_column=utc_column())
    last_seq: int
    acknowledged_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    accepted_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    rejected_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    started_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    completed_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    closed_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    subject_erased: bool = False
    ack_due_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))  # None while planned
    respond_due_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    ack_stopped_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    respond_stopped_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class HistoryRow(TrackerTable, table=True):
    __tablename__ = "handoff_history"

    referral_id: str = Field(primary_key=True, max_length=36)
    seq: int = Field(primary_key=True)
    event_id: str = Field(max_length=36)
    event_type: str = Field(max_length=40)
    occurred_at: dt.datetime = Field(sa_column=utc_column())
    actor_agency: str = Field(max_length=40)
    actor_staff: str | None = Field(default=None, max_length=24)  # the agency's person who acted (pseudonym)
    status_after: str = Field(max_length=20)
    reason_code: str | None = Field(default=None, max_length=40)
    outcome: str | None = Field(default=None, max_length=40)
    to_agency: str | None = Field(default=None, max_length=40)
    child_referral_id: str | None = Field(default=None, max_length=36)
    checkpoint_months: int | None = None  # a follow-up check (FollowUpRecorded); its outcome is in outcome


class ProcessedEvent(TrackerTable, table=True):
    """Event ids already applied (or dead-lettered): a redelivered event changes nothing."""

    __tablename__ = "processed_events"

    event_id: str = Field(sa_column=Column(String(36), primary_key=True))
    outcome: str = Field(max_length=12)  # applied | deadletter


class ChangeRow(TrackerTable, table=True):
    """Which referrals the consumer changed, in the order it did (``id``): the live stream's feed in an API
    process that does not run the consumer (``rujukan up``, whose tracker consumer is a worker). Kept for
    an hour (:mod:`rujukan.tracker.changes`)."""

    __tablename__ = "tracker_changes"

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    )
    referral_id: str = Field(max_length=36)
    changed_at: dt.datetime = Field(sa_column=utc_column(index=True))


class ConsumerPosition(TrackerTable, table=True):
    """Next offset to read per partition, valid for one topic id (a new id means a reset log)."""

    __tablename__ = "consumer_positions"

    consumer: str = Field(primary_key=True, max_length=100)
    topic: str = Field(primary_key=True, max_length=250)
    partition: int = Field(primary_key=True)
    topic_id: str = Field(max_length=36)
    next_offset: int


class SlaBreachRow(TrackerTable, table=True):
    """A detected breach; published once to the SLA topic (outbox), then marked."""

    __tablename__ = "sla_breaches"
    __table_args__ = (Index("ix_sla_breaches_unpublished", "published_at", "detected_at"),)

    referral_id: str = Field(primary_key=True, max_length=36)
    clock: str = Field(primary_key=True, max_length=20)
    event_id: str = Field(max_length=36)
    due_at: dt.datetime = Field(sa_column=utc_column())
    detected_at: dt.datetime = Field(sa_column=utc_column())
    published_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class TrackerCredential(TrackerTable, table=True):
    """Coordinator and auditor credentials (agencies authenticate at the referral service)."""

    __tablename__ = "tracker_credentials"

    id: str = Field(primary_key=True, max_length=36)
    role: str = Field(max_length=20)  # coordinator | auditor
    name: str = Field(max_length=200)
    secret_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    hint: str = Field(max_length=16)
    region_scope: str | None = Field(default=None, max_length=13)  # a coordinator sees this region only
    created_at: dt.datetime = Field(sa_column=utc_column())
    revoked_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class TrackerSession(TrackerTable, table=True):
    """A dashboard sign-in: the cookie holds a random token (only its hash is kept), valid until it expires
    or the coordinator signs out; the credential itself never goes into a cookie."""

    __tablename__ = "tracker_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    credential_id: str = Field(index=True, max_length=36)
    created_at: dt.datetime = Field(sa_column=utc_column())
    expires_at: dt.datetime = Field(sa_column=utc_column())


class PublisherState(TrackerTable, table=True):
    """The id of the topic the breach publisher last published to (a new id: republish)."""

    __tablename__ = "publisher_state"

    topic: str = Field(primary_key=True, max_length=250)
    topic_id: str = Field(max_length=36)


class ParallelLink(TrackerTable, table=True):
    """Two referrals of one person made by different parties (or for different services) that were active
    together: ``referral_id``'s ReferralCreated named ``other_referral_id`` among the person's active
    referrals (the referral service links a person's subjects across agencies; the tracker cannot, as
    subject pseudonyms differ per agency). The dashboard's "rujukan paralel" marker reads it."""

    __tablename__ = "parallel_links"

    referral_id: str = Field(primary_key=True, max_length=36)
    other_referral_id: str = Field(primary_key=True, max_length=36, index=True)


class DirectoryRow(TrackerTable, table=True):
    """An agency's directory entry for one service type, as its latest directory event says (the referral
    service owns the directory; the tracker follows its topic for the coordinators' capacity view)."""

    __tablename__ = "directory_entries"

    agency_code: str = Field(primary_key=True, max_length=40)
    service_type: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    regions: str = Field(sa_column=Column(Text, nullable=False))  # JSON list; empty: everywhere
    available: int | None = None
    maximum: int | None = None
    unit: str | None = Field(default=None, max_length=40)
    waitlist: str | None = Field(default=None, max_length=20)
    capacity_updated_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    updated_at: dt.datetime = Field(sa_column=utc_column())  # occurred_at of the event applied last
