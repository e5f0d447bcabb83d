"""Coordinator and auditor authentication: a bearer header, or the dashboard's HttpOnly cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rujukan.core.db import Database
from rujukan.tracker.access import Caller, Unauthenticated, authenticate

COOKIE = "rujukan_tracker"
bearer = HTTPBearer(auto_error=False, description="A coordinator or auditor credential.")


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def caller(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    secret = credentials.credentials if credentials is not None else request.cookies.get(COOKIE)
    if not secret:
        raise Unauthenticated("missing credential")
    return authenticate(database(request), secret=secret)


Db = Annotated[Database, Depends(database)]
CallerDep = Annotated[Caller, Depends(caller)]
