"""Tables of the referral service. Only the service layer writes them, one use case per transaction.

``referral_events`` is the event store and the outbox at once: rows are appended in the same transaction
as the referral row they describe, and the relay publishes them in ``position`` order.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Column, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from rujukan.core.db import utc_column


class ReferralTable(SQLModel, registry=registry()):
    """Base of the referral tables: their own metadata, apart from other services' tables."""


class Agency(ReferralTable, table=True):
    __tablename__ = "agencies"

    code: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=20)
    region_code: str = Field(max_length=13)
    services: str = Field(default="[]", max_length=2000)  # JSON list of service types
    created_at: dt.datetime = Field(sa_column=utc_column())


class Credential(ReferralTable, table=True):
    __tablename__ = "credentials"

    id: str = Field(primary_key=True, max_length=36)
    agency_code: str = Field(foreign_key="agencies.code", index=True, max_length=40)
    secret_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    hint: str = Field(max_length=16)  # the first characters of the secret, to tell credentials apart
    created_at: dt.datetime = Field(sa_column=utc_column())
    revoked_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class StaffMember(ReferralTable, table=True):
    """A person working at an agency, signing in with their own secret. ``id`` is the pseudonym that events
    record (``actor_staff``); the name stays here, shown only to the agency's supervisors."""

    __tablename__ = "staff"

    id: str = Field(primary_key=True, max_length=24)  # stf_ + 16 hex
    agency_code: str = Field(foreign_key="agencies.code", index=True, max_length=40)
    name: str = Field(max_length=200)
    role: str = Field(max_length=20)
    secret_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    hint: str = Field(max_length=16)
    created_at: dt.datetime = Field(sa_column=utc_column())
    disabled_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class StaffSession(ReferralTable, table=True):
    """A signed-in inbox session: the cookie holds a random token; only its hash is kept."""

    __tablename__ = "staff_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    staff_id: str = Field(foreign_key="staff.id", index=True, max_length=24)
    created_at: dt.datetime = Field(sa_column=utc_column())
    expires_at: dt.datetime = Field(sa_column=utc_column())


class Subject(ReferralTable, table=True):
    """One person as one agency (the controller) knows them; see ``identity``."""

    __tablename__ = "subjects"

    id: str = Field(primary_key=True, max_length=40)
    controller: str | None = Field(default=None, index=True, max_length=40)
    nik_index: str | None = Field(default=None, sa_column=Column(String(64), unique=True, nullable=True))
    person_index: str | None = Field(default=None, index=True, max_length=64)
    wrapped_key: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    legal_hold: bool = False
    created_at: dt.datetime = Field(sa_column=utc_column())
    restricted_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    erased_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Referral(ReferralTable, table=True):
    __tablename__ = "referrals"
    __table_args__ = (
        Index("ix_referrals_to_created", "to_agency", "created_at", "id"),
        Index("ix_referrals_from_created", "from_agency", "created_at", "id"),
        Index("ix_referrals_status_planned", "status", "planned_for"),  # the pathway scheduler's due steps
        Index("ix_referrals_pathway", "pathway_id"),
    )

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    parent_referral_id: str | None = Field(default=None, max_length=36)
    continues_referral_id: str | None = Field(default=None, max_length=36)  # the case's previous step
    from_agency: str = Field(foreign_key="agencies.code", max_length=40)
    to_agency: str = Field(foreign_key="agencies.code", max_length=40)
    service_type: str = Field(max_length=40)
    urgency: str = Field(max_length=20)
    status: str = Field(max_length=20)
    subject_id: str = Field(foreign_key="subjects.id", index=True, max_length=40)
    subject_category: str = Field(max_length=40)
    subject_sex: str = Field(max_length=10)
    subject_age_band: str = Field(max_length=20)
    subject_region_code: str = Field(max_length=13)
    legal_basis: str = Field(max_length=30)
    consent_given_by: str | None = Field(default=None, max_length=20)
    consent_recorded_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    sealed_subject: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sealed_reason: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sealed_assessment: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: dt.datetime = Field(sa_column=utc_column())
    updated_at: dt.datetime = Field(sa_column=utc_column())
    last_seq: int = 0
    last_hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    warnings: str = Field(default="[]", sa_column=Column(Text, nullable=False, server_default="[]"))  # pre-flight
    planned_for: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))  # when planned
    # the SLA due times its ReferralCreated (or, planned, ReferralSent) event carries; None while planned
    ack_due_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    respond_due_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    pathway_id: str | None = Field(default=None, max_length=36)  # the pathway this referral is a step of
    pathway_template: str | None = Field(default=None, max_length=60)
    pathway_step: str | None = Field(default=None, max_length=60)
    pathway_anchor_date: dt.date | None = None
    step_sla: str | None = Field(default=None, max_length=200)  # JSON hours of the step's own SLA, if any
    completed_at: dt.datetime | None = Field(
        default=None, sa_column=utc_column(nullable=True)
    )  # follow-ups count from it


class ReferralEvent(ReferralTable, table=True):
    """One encoded event and its signature. ``position`` is the order of storing; ``log_index`` the event's
    leaf in the transparency log (given by the relay, in the order it publishes); ``published_at`` the
    outbox mark; ``refused`` why the relay would not publish it (a missing or bad signature)."""

    __tablename__ = "referral_events"
    __table_args__ = (
        UniqueConstraint("referral_id", "seq", name="uq_referral_events_referral_seq"),
        Index("ix_referral_events_unpublished", "published_at", "log_index"),
        Index("ix_referral_events_log_index", "log_index", unique=True),
        Index("ix_referral_events_refused", "refused"),
        Index("ix_referral_events_type_occurred", "event_type", "occurred_at"),  # receivers' figures
    )

    position: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(sa_column=Column(String(36), unique=True, nullable=False))
    referral_id: str = Field(foreign_key="referrals.id", max_length=36)
    seq: int
    event_type: str = Field(max_length=40)
    actor_agency: str = Field(max_length=40)
    occurred_at: dt.datetime = Field(sa_column=utc_column())
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    signature: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    log_index: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    published_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    refused: str | None = Field(default=None, max_length=200)
    refused_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    dead_lettered_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class LogNode(ReferralTable, table=True):
    """A perfect subtree of the transparency log: level 0 holds each leaf's hash, level L index k the hash of
    leaves [k * 2^L, (k + 1) * 2^L). Written once, never changed (:mod:`rujukan.core.tlog`)."""

    __tablename__ = "log_nodes"

    level: int = Field(primary_key=True)
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    event_id: str | None = Field(default=None, max_length=36)  # a leaf's event, to name what went missing
    referral_id: str | None = Field(default=None, max_length=36)


class LogState(ReferralTable, table=True):
    """The transparency log's size; the verifier key of the key that signs it (a service started with
    another key refuses to run); events stored before signatures (``position`` 1 to ``legacy_position``),
    signed once by the first referral service started after the upgrade, which then sets it to 0."""

    __tablename__ = "log_state"

    name: str = Field(primary_key=True, max_length=40)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    legacy_position: int = Field(sa_column=Column(BigInteger, nullable=False))
    verifier_key: str | None = Field(default=None, max_length=400)
    updated_at: dt.datetime = Field(sa_column=utc_column())


class LogCheckpoint(ReferralTable, table=True):
    """A signed checkpoint (C2SP signed note) of the log, and its outbox mark for the checkpoints topic."""

    __tablename__ = "log_checkpoints"

    tree_size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    note: str = Field(max_length=4000)
    created_at: dt.datetime = Field(sa_column=utc_column())
    published_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class IdempotencyKey(ReferralTable, table=True):
    """An agency's request made with an Idempotency-Key: the first answer to a create (replayed for retries
    with the same key), or the record that an action was taken (a retry answers with the referral as it
    is now). The request is kept as a keyed hash only: bodies hold identifying data."""

    __tablename__ = "idempotency_keys"

    agency_code: str = Field(primary_key=True, max_length=40)
    key: str = Field(primary_key=True, max_length=200)
    request_hash: str = Field(max_length=64)
    referral_id: str = Field(max_length=36)
    response: str  # JSON of the 201 body of a create, or {"action": ...} (never identifying data)
    created_at: dt.datetime = Field(sa_column=utc_column())


class RelayState(ReferralTable, table=True):
    """The topic id the relay last published to; a different id means the broker's log was reset."""

    __tablename__ = "relay_state"

    topic: str = Field(primary_key=True, max_length=250)
    topic_id: str | None = Field(default=None, max_length=36)
    updated_at: dt.datetime = Field(sa_column=utc_column())


class Disclosure(ReferralTable, table=True):
    """Each time an auditor had sealed data opened: the SealedDataDisclosed event, kept here for good."""

    __tablename__ = "disclosures"

    event_id: str = Field(sa_column=Column(String(36), primary_key=True))
    auditor_credential_id: str = Field(max_length=36)
    occurred_at: dt.datetime = Field(sa_column=utc_column())
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    published_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class DirectoryEntry(ReferralTable, table=True):
    """One agency's service in the directory (one entry per agency and service type): what it offers, for
    whom, where, and how much room it has now. Agencies keep their own entries (:mod:`rujukan.referral.directory`).
    Lists are JSON; an empty list means any (category, sex) or everywhere (regions)."""

    __tablename__ = "directory_services"

    agency_code: str = Field(foreign_key="agencies.code", primary_key=True, max_length=40)
    service_type: str = Field(primary_key=True, max_length=40)
    id: str = Field(sa_column=Column(String(36), unique=True, nullable=False))  # the HSDS service id
    name: str = Field(max_length=200)
    description: str = Field(sa_column=Column(Text, nullable=False))
    eligible_categories: str = Field(default="[]", max_length=2000)
    eligible_sex: str = Field(default="[]", max_length=100)
    min_age: int | None = None
    max_age: int | None = None
    regions: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    languages: str = Field(default="[]", max_length=500)
    contact_phone: str | None = Field(default=None, max_length=40)
    contact_email: str | None = Field(default=None, max_length=200)
    contact_url: str | None = Field(default=None, max_length=500)
    capacity_available: int | None = None  # None: the agency does not say
    capacity_maximum: int | None = None
    capacity_unit: str | None = Field(default=None, max_length=40)
    capacity_waitlist: str | None = Field(default=None, max_length=10)
    capacity_updated_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    capacity_rejections: int = 0  # referrals it rejected with capacity_full
    last_capacity_rejection_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    updated_at: dt.datetime = Field(sa_column=utc_column())


class DirectoryEvent(ReferralTable, table=True):
    """A directory change as published on the directory topic: the outbox of its events."""

    __tablename__ = "directory_events"

    event_id: str = Field(sa_column=Column(String(36), primary_key=True))
    key: str = Field(max_length=100)  # AGENCY/service_type
    event_type: str = Field(max_length=40)
    occurred_at: dt.datetime = Field(sa_column=utc_column(index=True))
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    published_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class PathwayTemplateRow(ReferralTable, table=True):
    """A pathway template as loaded (``rujukan pathway load``): its code and its JSON, checked on load."""

    __tablename__ = "pathway_templates"

    code: str = Field(primary_key=True, max_length=60)
    body: str = Field(sa_column=Column(Text, nullable=False))
    loaded_at: dt.datetime = Field(sa_column=utc_column())
