"""Who an agency is to a referral. Not a party means not found: existence is never confirmed."""

from __future__ import annotations

from sqlmodel import Session

from rujukan.core.lifecycle import Role
from rujukan.referral.errors import NotFound
from rujukan.referral.models import Referral


def party_role(referral: Referral, agency: str) -> Role | None:
    if referral.from_agency == agency:
        return Role.REQUESTER
    if referral.to_agency == agency:
        return Role.RESPONDER
    return None


def load_as_party(
    session: Session, *, referral_id: str, agency: str, for_update: bool = False
) -> tuple[Referral, Role]:
    """The referral and the caller's role, or NotFound exactly as for a referral that does not exist."""
    referral = session.get(Referral, referral_id, with_for_update=for_update)
    role = party_role(referral, agency) if referral is not None else None
    if referral is None or role is None:
        raise NotFound("referral not found")
    return referral, role
