"""The dashboard: a login page, and one page of HTML + a little JavaScript that reads the coordinator API.

The coordinator signs in with their credential once, which starts a session (``access.start_session``):
the HttpOnly, SameSite=Strict cookie holds the session's random token, not the credential, and is
``Secure`` when the page was reached over https (directly, or through a proxy saying so in
``X-Forwarded-Proto``). Signing out ends the session on the server. The API also accepts the credential
as a bearer header. The page uses /v1/stream to update without reloading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from rujukan.tracker.access import (
    SESSION_HOURS,
    authenticate,
    end_session,
    session_caller,
    start_session,
)
from rujukan.tracker.api.auth import COOKIE, MAX_TOKEN_LENGTH, database
from rujukan.tracker.errors import Unauthenticated

STATIC = Path(__file__).resolve().parent.parent / "static"
router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard(request: Request) -> Response:
    token = request.cookies.get(COOKIE)
    try:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated("no session")
        session_caller(database(request), token=token)
    except Unauthenticated:
        return RedirectResponse("/login", status_code=303)
    return FileResponse(STATIC / "dashboard.html", headers={"Cache-Control": "no-store"})


@router.get("/login")
def login_page() -> Response:
    return FileResponse(STATIC / "login.html", headers={"Cache-Control": "no-store"})


@router.post("/login")
def login(request: Request, credential: Annotated[str, Form(max_length=100)]) -> Response:
    try:
        caller = authenticate(database(request), secret=credential.strip())
    except Unauthenticated:
        return RedirectResponse("/login?failed=1", status_code=303)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        start_session(database(request), caller),
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=_over_https(request),
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    token = request.cookies.get(COOKIE)
    if token and len(token) <= MAX_TOKEN_LENGTH:
        end_session(database(request), token=token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", secure=_over_https(request), httponly=True, samesite="strict")
    return response


def _over_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


@router.get("/static/{name}")
def static(name: str) -> Response:
    """Public by design (the sign-in page needs its stylesheet and scripts). The name is looked up among the
    directory's files, never joined into a path: no name (``..``, a NUL, one too long for the file system)
    reaches the file system, so none can leave the directory or fail with a 500."""
    path = next((file for file in STATIC.iterdir() if file.name == name and file.is_file()), None)
    if path is None:
        return Response(status_code=404)
    return FileResponse(path, headers={"Cache-Control": "no-cache"})
