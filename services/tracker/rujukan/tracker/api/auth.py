"""Coordinator and auditor authentication: a bearer credential, or the dashboard's session cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rujukan.core.db import Database
from rujukan.tracker.access import Caller, authenticate, session_caller
from rujukan.tracker.errors import Unauthenticated

COOKIE = "rujukan_tracker"
MAX_TOKEN_LENGTH = 100
bearer = HTTPBearer(auto_error=False, description="A coordinator or auditor credential.")


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def caller(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    if credentials is not None:
        return authenticate(database(request), secret=credentials.credentials)
    token = request.cookies.get(COOKIE)
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise Unauthenticated("missing credential")
    return session_caller(database(request), token=token)


Db = Annotated[Database, Depends(database)]
CallerDep = Annotated[Caller, Depends(caller)]
