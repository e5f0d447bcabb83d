"""Use cases of the agency registry and of agency credentials (secrets: rujukan.core.credentials)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import select

from rujukan.core.credentials import matches, new_secret, plausible, secret_hash
from rujukan.core.vocabulary import AgencyKind, ServiceType
from rujukan.referral.commands import AgencyCode, RegionCode
from rujukan.referral.context import ReferralContext
from rujukan.referral.errors import InvalidRequest, NotFound, Unauthenticated
from rujukan.referral.models import Agency, Credential


class AgencyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: AgencyCode
    name: str = Field(min_length=1, max_length=200)
    kind: AgencyKind
    region_code: RegionCode
    services: list[ServiceType] = Field(default_factory=list, description="Services offered; empty: any.")


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    id: str
    agency_code: str
    secret: str  # shown once, never stored


def add_agency(ctx: ReferralContext, *, agency: AgencyIn, replace: bool = False) -> None:
    with ctx.transaction() as session:
        existing = session.get(Agency, agency.code)
        if existing is not None and not replace:
            raise InvalidRequest(f"agency {agency.code} already exists")
        row = existing or Agency(
            code=agency.code,
            name=agency.name,
            kind=agency.kind.value,
            region_code=agency.region_code,
            created_at=ctx.clock(),
        )
        row.name, row.kind, row.region_code = agency.name, agency.kind.value, agency.region_code
        row.services = json.dumps([s.value for s in agency.services])
        session.add(row)


def list_agencies(ctx: ReferralContext) -> list[AgencyIn]:
    with ctx.read() as session:
        rows = session.exec(select(Agency).order_by(Agency.code)).all()
        return [_agency_out(row) for row in rows]


def get_agency(ctx: ReferralContext, code: str) -> AgencyIn:
    with ctx.read() as session:
        row = session.get(Agency, code)
        if row is None:
            raise NotFound(f"no agency {code}")
        return _agency_out(row)


def _agency_out(row: Agency) -> AgencyIn:
    return AgencyIn(
        code=row.code,
        name=row.name,
        kind=AgencyKind(row.kind),
        region_code=row.region_code,
        services=[ServiceType(s) for s in json.loads(row.services)],
    )


def issue_credential(ctx: ReferralContext, *, agency_code: str) -> IssuedCredential:
    secret = new_secret()
    with ctx.transaction() as session:
        if session.get(Agency, agency_code) is None:
            raise NotFound(f"no agency {agency_code}")
        credential = Credential(
            id=str(uuid.uuid4()),
            agency_code=agency_code,
            secret_hash=secret_hash(secret),
            hint=secret[:10],
            created_at=ctx.clock(),
        )
        session.add(credential)
    return IssuedCredential(id=credential.id, agency_code=agency_code, secret=secret)


def revoke_credential(ctx: ReferralContext, *, credential_id: str) -> None:
    with ctx.transaction() as session:
        credential = session.get(Credential, credential_id)
        if credential is None:
            raise NotFound(f"no credential {credential_id}")
        if credential.revoked_at is None:
            credential.revoked_at = ctx.clock()
            session.add(credential)
    ctx.credentials.forget(credential.secret_hash)  # other processes: within their cache's second


def list_credentials(ctx: ReferralContext, *, agency_code: str | None = None) -> list[Credential]:
    with ctx.read() as session:
        query = select(Credential).order_by(Credential.agency_code, Credential.created_at)  # type: ignore[arg-type]
        if agency_code is not None:
            query = query.where(Credential.agency_code == agency_code)
        return list(session.exec(query).all())


def known_agency(ctx: ReferralContext, *, secret: str) -> str | None:
    """The agency behind a secret checked within the last second (no I/O), or None: ask ``authenticate``."""
    return ctx.credentials.get(secret_hash(secret)) if plausible(secret) else None


def authenticate(ctx: ReferralContext, *, secret: str) -> str:
    """The agency code behind a bearer secret; Unauthenticated for unknown or revoked ones."""
    if not plausible(secret):
        raise Unauthenticated("invalid credential")
    digest = secret_hash(secret)
    cached = ctx.credentials.get(digest)  # a revocation is honoured within the cache's second
    if cached is not None:
        return cached
    query = select(Credential.agency_code, Credential.secret_hash, Credential.revoked_at).where(
        Credential.secret_hash == digest
    )
    with ctx.read() as session:
        found = session.execute(query).first()
    if found is None or not matches(found.secret_hash, secret):
        raise Unauthenticated("invalid credential")
    if found.revoked_at is not None:
        raise Unauthenticated("credential revoked")
    ctx.credentials.put(digest, str(found.agency_code))
    return str(found.agency_code)
