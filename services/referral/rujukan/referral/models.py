"""Tables of the referral service. Only the service layer writes them, one use case per transaction.

``referral_events`` is the event store and the outbox at once: rows are appended in the same transaction
as the referral row they describe, and the relay publishes them in ``position`` order.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, Index, LargeBinary, String, UniqueConstraint
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
    )

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    parent_referral_id: str | None = Field(default=None, max_length=36)
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
    created_at: dt.datetime = Field(sa_column=utc_column())
    updated_at: dt.datetime = Field(sa_column=utc_column())
    last_seq: int = 0
    last_hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class ReferralEvent(ReferralTable, table=True):
    """One encoded event; ``position`` is the publishing order, ``published_at`` the outbox mark."""

    __tablename__ = "referral_events"
    __table_args__ = (
        UniqueConstraint("referral_id", "seq", name="uq_referral_events_referral_seq"),
        Index("ix_referral_events_unpublished", "published_at", "position"),
    )

    position: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(sa_column=Column(String(36), unique=True, nullable=False))
    referral_id: str = Field(foreign_key="referrals.id", max_length=36)
    seq: int
    event_type: str = Field(max_length=40)
    actor_agency: str = Field(max_length=40)
    occurred_at: dt.datetime = Field(sa_column=utc_column())
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
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
