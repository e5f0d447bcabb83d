"""Bearer credentials: the calling agency comes from the credential, never from the body."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rujukan.referral.context import ReferralContext
from rujukan.referral.errors import Unauthenticated
from rujukan.referral.registry import authenticate

bearer = HTTPBearer(auto_error=False, description="An agency credential from `rujukan credentials issue`.")


def app_context(request: Request) -> ReferralContext:
    ctx: ReferralContext = request.app.state.context
    return ctx


async def context(request: Request) -> ReferralContext:
    """As a dependency: async, because it does no I/O (a sync one would cost a thread hop per request)."""
    return app_context(request)


def calling_agency(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer credential")
    return authenticate(app_context(request), secret=credentials.credentials)


Agency = Annotated[str, Depends(calling_agency)]
Context = Annotated[ReferralContext, Depends(context)]
