"""Coordinator and auditor credentials of the tracker: issue, revoke, authenticate."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlmodel import select

from rujukan.core.credentials import matches, new_secret, plausible, secret_hash
from rujukan.core.db import Database
from rujukan.core.errors import RujukanError
from rujukan.tracker.models import TrackerCredential


class TrackerRole(StrEnum):
    COORDINATOR = "coordinator"
    AUDITOR = "auditor"


class Unauthenticated(RujukanError):
    """No valid coordinator or auditor credential."""


class NotFound(RujukanError):
    """No such handoff, case or credential."""


class InvalidQuery(RujukanError):
    """A query parameter that parses but makes no sense (e.g. a malformed period)."""


@dataclass(frozen=True, slots=True)
class Caller:
    role: TrackerRole
    name: str
    credential_id: str = ""


def issue_tracker_credential(db: Database, *, role: TrackerRole, name: str) -> tuple[str, str]:
    """(credential id, secret); the secret is shown once and only its hash is kept."""
    secret = new_secret()
    credential_id = str(uuid.uuid4())
    with db.transaction() as session:
        session.add(
            TrackerCredential(
                id=credential_id,
                role=role.value,
                name=name,
                secret_hash=secret_hash(secret),
                hint=secret[:10],
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    return credential_id, secret


def revoke_tracker_credential(db: Database, *, credential_id: str) -> None:
    with db.transaction() as session:
        credential = session.get(TrackerCredential, credential_id)
        if credential is None:
            raise NotFound(f"no credential {credential_id}")
        if credential.revoked_at is None:
            credential.revoked_at = dt.datetime.now(dt.UTC)
            session.add(credential)


def authenticate(db: Database, *, secret: str) -> Caller:
    if not plausible(secret):
        raise Unauthenticated("invalid credential")
    query = select(TrackerCredential).where(TrackerCredential.secret_hash == secret_hash(secret))
    with db.read() as session:
        found = session.exec(query).first()
    if found is None or not matches(found.secret_hash, secret):
        raise Unauthenticated("invalid credential")
    if found.revoked_at is not None:
        raise Unauthenticated("credential revoked")
    return Caller(role=TrackerRole(found.role), name=str(found.name), credential_id=str(found.id))
