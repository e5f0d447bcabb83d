"""Staff accounts: the people of an agency, each signing in with their own secret, and who acted.

An agency system acts with its machine credential (``registry``); a person acts with a staff secret, in
the API as a bearer credential or in the inbox (``/agency/``) through a session. Either way the request is
the agency's, with the same rights, and every event it makes records the person's pseudonym
(``actor_staff``, ``stf_`` + 16 hex characters): ``acting.ACTING_STAFF`` carries it from the
authentication to the events. The name behind a pseudonym is kept here only.

A staff secret is never cached: disabling a person refuses their very next request, in every process,
and ends their sessions. An inbox session's cookie holds a random token; the token's keyed digest is the
CSRF token that the page sends back on every request (the cookie is HttpOnly, so another site can read
neither).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import delete
from sqlmodel import col, select

from rujukan.core.credentials import matches, new_secret, plausible, secret_hash
from rujukan.referral.context import ReferralContext
from rujukan.referral.errors import InvalidRequest, NotFound, Unauthenticated
from rujukan.referral.models import Agency, StaffMember, StaffSession
from rujukan.referral.registry import authenticate, known_agency

SESSION_HOURS = 8
MAX_NAME = 200


class StaffRole(StrEnum):
    CASEWORKER = "caseworker"
    SUPERVISOR = "supervisor"


@dataclass(frozen=True, slots=True)
class StaffView:
    """A staff account as its agency's supervisors and the operator see it (never the secret)."""

    id: str
    agency_code: str
    name: str
    role: StaffRole
    created_at: dt.datetime
    disabled_at: dt.datetime | None
    hint: str

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True, slots=True)
class IssuedStaff:
    staff: StaffView
    secret: str  # shown once, never stored


def new_staff_id() -> str:
    return "stf_" + secrets.token_hex(8)


def add_staff(ctx: ReferralContext, *, agency_code: str, name: str, role: StaffRole) -> IssuedStaff:
    name = name.strip()
    if not name or len(name) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidRequest(f"a staff name is 1 to {MAX_NAME} printable characters")
    secret = new_secret()
    with ctx.transaction() as session:
        if session.get(Agency, agency_code) is None:
            raise NotFound(f"no agency {agency_code}")
        row = StaffMember(
            id=new_staff_id(),
            agency_code=agency_code,
            name=name,
            role=role.value,
            secret_hash=secret_hash(secret),
            hint=secret[:10],
            created_at=ctx.clock(),
        )
        session.add(row)
        view = _view(row)
    return IssuedStaff(staff=view, secret=secret)


def list_staff(ctx: ReferralContext, *, agency_code: str | None = None) -> list[StaffView]:
    query = select(StaffMember).order_by(col(StaffMember.agency_code), col(StaffMember.created_at))
    if agency_code is not None:
        query = query.where(StaffMember.agency_code == agency_code)
    with ctx.read() as session:
        return [_view(row) for row in session.exec(query).all()]


def disable_staff(ctx: ReferralContext, *, staff_id: str) -> StaffView:
    """The person's next request is refused, and their inbox sessions end (idempotent)."""
    with ctx.transaction() as session:
        row = session.get(StaffMember, staff_id)
        if row is None:
            raise NotFound(f"no staff account {staff_id}")
        if row.disabled_at is None:
            row.disabled_at = ctx.clock()
            session.add(row)
        session.exec(delete(StaffSession).where(col(StaffSession.staff_id) == staff_id))
        return _view(row)


def authenticate_staff(ctx: ReferralContext, *, secret: str) -> StaffView | None:
    """The active person behind a staff secret; None when the secret is no staff secret at all;
    Unauthenticated when it is a disabled person's."""
    if not plausible(secret):
        return None
    with ctx.read() as session:
        row = session.exec(select(StaffMember).where(StaffMember.secret_hash == secret_hash(secret))).first()
    if row is None or not matches(row.secret_hash, secret):
        return None
    if row.disabled_at is not None:
        raise Unauthenticated("staff account disabled")
    return _view(row)


def agency_of_secret(ctx: ReferralContext, *, secret: str) -> tuple[str, StaffView | None]:
    """The agency behind a bearer secret, an agency system's or a person's (with the person);
    Unauthenticated for unknown, revoked or disabled ones. Machine credentials are cached (``registry``),
    staff secrets never."""
    known = known_agency(ctx, secret=secret)
    if known is not None:
        return known, None
    staff = authenticate_staff(ctx, secret=secret)
    if staff is not None:
        return staff.agency_code, staff
    return authenticate(ctx, secret=secret), None


def start_session(ctx: ReferralContext, staff: StaffView) -> str:
    """A new inbox session for ``staff``; its token, for the cookie only."""
    token = secrets.token_urlsafe(32)
    now = ctx.clock()
    with ctx.transaction() as session:
        session.exec(delete(StaffSession).where(col(StaffSession.expires_at) < now))
        session.add(
            StaffSession(
                token_hash=secret_hash(token),
                staff_id=staff.id,
                created_at=now,
                expires_at=now + dt.timedelta(hours=SESSION_HOURS),
            )
        )
    return token


def session_staff(ctx: ReferralContext, *, token: str) -> StaffView:
    """Who holds a live session; Unauthenticated once it expired or ended, or the person was disabled."""
    with ctx.read() as session:
        found = session.get(StaffSession, secret_hash(token))
        if found is None or found.expires_at <= ctx.clock():
            raise Unauthenticated("no session")
        row = session.get(StaffMember, found.staff_id)
        if row is None or row.disabled_at is not None:
            raise Unauthenticated("staff account disabled")
        return _view(row)


def end_session(ctx: ReferralContext, *, token: str) -> None:
    with ctx.transaction() as session:
        session.exec(delete(StaffSession).where(col(StaffSession.token_hash) == secret_hash(token)))


def csrf_token(token: str) -> str:
    """The CSRF token of a session: a digest of its token, so it needs no storage and changes with it."""
    return hmac.new(token.encode(), b"rujukan-agency-csrf", hashlib.sha256).hexdigest()


def csrf_matches(token: str, sent: str) -> bool:
    """Constant-time, on bytes (any text a header or a form can carry compares, and differs)."""
    return hmac.compare_digest(csrf_token(token).encode(), sent.encode("utf-8", "replace"))


def staff_names(ctx: ReferralContext, *, agency_code: str) -> dict[str, str]:
    """Pseudonym to name, for one agency's own people (what its supervisors may see)."""
    return {view.id: view.name for view in list_staff(ctx, agency_code=agency_code)}


def _view(row: StaffMember) -> StaffView:
    return StaffView(
        id=row.id,
        agency_code=row.agency_code,
        name=row.name,
        role=StaffRole(row.role),
        created_at=row.created_at,
        disabled_at=row.disabled_at,
        hint=row.hint,
    )
