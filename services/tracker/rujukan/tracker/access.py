"""Coordinator and auditor credentials of the tracker: issue, revoke, authenticate; dashboard sessions.

A coordinator credential may be scoped to a region (``--region 31.75``): its holder sees only handoffs of
subjects in that region and the regions under it, in every list, detail, statistic and stream. The
dashboard signs in to a session of ``SESSION_HOURS``: the cookie holds a random session token, never the
credential, and signing out ends the session for good.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import delete
from sqlmodel import col, select

from rujukan.core.credentials import matches, new_secret, plausible, secret_hash
from rujukan.core.db import Database
from rujukan.tracker.errors import InvalidQuery, NotFound, Unauthenticated
from rujukan.tracker.models import TrackerCredential, TrackerSession


class TrackerRole(StrEnum):
    COORDINATOR = "coordinator"
    AUDITOR = "auditor"


SESSION_HOURS = 8
REGION = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")


@dataclass(frozen=True, slots=True)
class Caller:
    role: TrackerRole
    name: str
    credential_id: str = ""
    region_scope: str | None = None  # None: the whole country


def issue_tracker_credential(
    db: Database, *, role: TrackerRole, name: str, region_scope: str | None = None
) -> tuple[str, str]:
    """(credential id, secret); the secret is shown once and only its hash is kept."""
    if region_scope is not None and (role is not TrackerRole.COORDINATOR or not REGION.match(region_scope)):
        raise InvalidQuery("a region scope is a region code (e.g. 31.75), for coordinator credentials only")
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
                region_scope=region_scope,
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
    return _caller(found)


def _caller(found: TrackerCredential | None) -> Caller:
    if found is None:
        raise Unauthenticated("invalid credential")
    if found.revoked_at is not None:
        raise Unauthenticated("credential revoked")
    return Caller(
        role=TrackerRole(found.role),
        name=str(found.name),
        credential_id=str(found.id),
        region_scope=found.region_scope,
    )


def start_session(db: Database, caller: Caller) -> str:
    """A new dashboard session for ``caller``; its token (for the cookie, shown nowhere else)."""
    token = secrets.token_urlsafe(32)
    now = dt.datetime.now(dt.UTC)
    with db.transaction() as session:
        session.exec(delete(TrackerSession).where(col(TrackerSession.expires_at) < now))
        session.add(
            TrackerSession(
                token_hash=secret_hash(token),
                credential_id=caller.credential_id,
                created_at=now,
                expires_at=now + dt.timedelta(hours=SESSION_HOURS),
            )
        )
    return token


def session_caller(db: Database, *, token: str) -> Caller:
    """Who holds a live dashboard session; Unauthenticated once it expired, ended or its credential went."""
    with db.read() as session:
        found = session.get(TrackerSession, secret_hash(token))
        if found is None or found.expires_at <= dt.datetime.now(dt.UTC):
            raise Unauthenticated("no session")
        return _caller(session.get(TrackerCredential, found.credential_id))


def end_session(db: Database, *, token: str) -> None:
    with db.transaction() as session:
        session.exec(delete(TrackerSession).where(col(TrackerSession.token_hash) == secret_hash(token)))
