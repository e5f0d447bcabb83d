"""Who calls: an agency system by its bearer credential, or a person by their staff secret (as a bearer
credential, or through an inbox session cookie). The calling agency comes from the credential, never from
the body; the acting person, if any, is set in ``acting.ACTING_STAFF`` for the events the request makes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from rujukan.core.credentials import CSRF_HEADER, INBOX_SESSION_COOKIE
from rujukan.referral.acting import ACTING_STAFF
from rujukan.referral.context import ReferralContext
from rujukan.referral.errors import Forbidden, Unauthenticated
from rujukan.referral.registry import known_agency
from rujukan.referral.staff import StaffView, agency_of_secret, csrf_matches, session_staff

bearer = HTTPBearer(
    auto_error=False, description="An agency credential from `rujukan credentials issue`, or a staff secret."
)
COOKIE = INBOX_SESSION_COOKIE
MAX_TOKEN_LENGTH = 100


def app_context(request: Request) -> ReferralContext:
    ctx: ReferralContext = request.app.state.context
    return ctx


async def context(request: Request) -> ReferralContext:
    """As a dependency: async, because it does no I/O (a sync one would cost a thread hop per request)."""
    return app_context(request)


async def calling_agency(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    """Async: a machine credential checked within the last second is known without I/O; the others are
    looked up on a worker thread. A staff secret or session is looked up on every request, so that
    disabling a person refuses their next one."""
    ctx = app_context(request)
    ACTING_STAFF.set(None)
    if credentials is not None and credentials.scheme.lower() == "bearer":
        secret = credentials.credentials
        known = known_agency(ctx, secret=secret)
        if known is not None:
            return known
        agency, staff = await run_in_threadpool(agency_of_secret, ctx, secret=secret)
        return agency if staff is None else _acting(request, staff)
    token = request.cookies.get(COOKIE)
    if credentials is None and token and len(token) <= MAX_TOKEN_LENGTH:
        staff = await run_in_threadpool(session_staff, ctx, token=token)
        check_session_request(request, token)
        return _acting(request, staff)
    raise Unauthenticated("missing bearer credential")


def check_session_request(request: Request, token: str) -> None:
    """Every API request made with an inbox session, a read too (a read can record a disclosure), carries
    the session's CSRF token, and none comes from another site, a sibling subdomain included (the
    browser's ``Sec-Fetch-Site``, where it sends one)."""
    if not same_origin(request):
        raise Forbidden("an inbox session is used from the inbox's own pages only")
    if not csrf_matches(token, request.headers.get(CSRF_HEADER, "")):
        raise Forbidden(f"a request made in an inbox session needs its {CSRF_HEADER} header")


def same_origin(request: Request) -> bool:
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


def _acting(request: Request, staff: StaffView) -> str:
    ACTING_STAFF.set(staff.id)
    request.state.staff = staff
    return staff.agency_code


async def calling_staff(request: Request, agency: Annotated[str, Depends(calling_agency)]) -> StaffView | None:
    """The person behind the request (after ``calling_agency``), or None for an agency system."""
    staff: StaffView | None = getattr(request.state, "staff", None)
    return staff if staff is not None and staff.agency_code == agency else None


Agency = Annotated[str, Depends(calling_agency)]
Staff = Annotated[StaffView | None, Depends(calling_staff)]
Context = Annotated[ReferralContext, Depends(context)]
