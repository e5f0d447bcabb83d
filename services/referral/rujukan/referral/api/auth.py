"""Bearer credentials: the calling agency comes from the credential, never from the body."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from rujukan.referral.context import ReferralContext
from rujukan.referral.errors import Unauthenticated
from rujukan.referral.registry import authenticate, known_agency

bearer = HTTPBearer(auto_error=False, description="An agency credential from `rujukan credentials issue`.")


def app_context(request: Request) -> ReferralContext:
    ctx: ReferralContext = request.app.state.context
    return ctx


async def context(request: Request) -> ReferralContext:
    """As a dependency: async, because it does no I/O (a sync one would cost a thread hop per request)."""
    return app_context(request)


async def calling_agency(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    """Async: a credential checked within the last second is known without I/O; the others are looked up
    on a worker thread."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer credential")
    ctx, secret = app_context(request), credentials.credentials
    known = known_agency(ctx, secret=secret)
    return known if known is not None else await run_in_threadpool(authenticate, ctx, secret=secret)


Agency = Annotated[str, Depends(calling_agency)]
Context = Annotated[ReferralContext, Depends(context)]
