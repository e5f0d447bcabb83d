"""The dashboard: a login page, and one page of HTML + a little JavaScript that reads the coordinator API.

The coordinator signs in with their credential once; it is kept in an HttpOnly, SameSite=Strict cookie
(the API also accepts it as a bearer header). The page uses /v1/stream to update without reloading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from rujukan.tracker.access import Unauthenticated, authenticate
from rujukan.tracker.api.auth import COOKIE, database

STATIC = Path(__file__).resolve().parent.parent / "static"
COOKIE_MAX_AGE_S = 12 * 3600
router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard(request: Request) -> Response:
    secret = request.cookies.get(COOKIE)
    try:
        if not secret:
            raise Unauthenticated("no session")
        authenticate(database(request), secret=secret)
    except Unauthenticated:
        return RedirectResponse("/login", status_code=303)
    return FileResponse(STATIC / "dashboard.html", headers={"Cache-Control": "no-store"})


@router.get("/login")
def login_page() -> Response:
    return FileResponse(STATIC / "login.html", headers={"Cache-Control": "no-store"})


@router.post("/login")
def login(request: Request, credential: Annotated[str, Form(max_length=100)]) -> Response:
    try:
        authenticate(database(request), secret=credential.strip())
    except Unauthenticated:
        return RedirectResponse("/login?failed=1", status_code=303)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        credential.strip(),
        max_age=COOKIE_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/static/{name}")
def static(name: str) -> Response:
    path = (STATIC / name).resolve()
    if path.parent != STATIC or not path.is_file():
        return Response(status_code=404)
    return FileResponse(path, headers={"Cache-Control": "no-cache"})
