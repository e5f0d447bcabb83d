"""HTTP conventions shared by the services' FastAPI apps: RFC 9457 problem details for every error.

Validation errors list the failing fields and why, but never echo the submitted values (they may be a
name or an NIK). Unexpected exceptions answer 500 with no detail and are logged with a traceback free of
personal data (files, lines, functions, class names: ``core.errors.safe_trace``). A
database that cannot be reached answers 503 with Retry-After. Each service adds the mapping of its own
domain errors with :func:`install_problem_handlers`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from rujukan.core.errors import RujukanError, safe_trace

log = logging.getLogger("rujukan.http")
PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_S = 5
TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    503: "Service unavailable",
}

PROBLEM_CONTENT: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}
# Answers any route can give, for the services' OpenAPI documents.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body is not valid JSON", **PROBLEM_CONTENT},
    413: {"description": "The body is larger than the service accepts", **PROBLEM_CONTENT},
    429: {"description": "Over the credential's request rate; retry after Retry-After", **PROBLEM_CONTENT},
    503: {"description": "A database is not reachable; retry after Retry-After", **PROBLEM_CONTENT},
}

# A domain error -> (status, title, extra members of the problem body)
ErrorMapper = Callable[[RujukanError], tuple[int, str, dict[str, Any]] | None]
# (kind of error, HTTP status, problem title); the first kind the error is an instance of wins
StatusTable = Sequence[tuple[type[RujukanError], int, str]]


def map_by_kind(table: StatusTable) -> ErrorMapper:
    """The ErrorMapper of a table of error kinds (no extra problem members)."""

    def mapper(exc: RujukanError) -> tuple[int, str, dict[str, Any]] | None:
        for kind, status, title in table:
            if isinstance(exc, kind):
                return status, title, {}
        return None

    return mapper


def problem(status: int, title: str | None = None, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title or TITLES.get(status, "Error"), "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI, mapper: ErrorMapper) -> None:
    async def domain_error(request: Request, exc: RujukanError) -> JSONResponse:
        mapped = mapper(exc)
        if mapped is None:
            return await _unexpected(request, exc)
        status, title, extra = mapped
        response = problem(status, title, str(exc), **extra)
        if status == 503:
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    app.add_exception_handler(RujukanError, domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(OperationalError, _database_unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(DataError, _value_not_storable)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"location": ".".join(str(part) for part in error.get("loc", ())), "message": error.get("msg", "invalid")}
        for error in exc.errors()
    ]
    return problem(422, "Invalid request", "the request does not match the API schema", errors=errors)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    response = problem(exc.status_code, None, str(exc.detail) if exc.detail else None)
    response.headers.update(exc.headers or {})  # e.g. Allow on 405 (RFC 9110)
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(allowed_methods(request))
    return response


CANDIDATE_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on this path (a path served by a GET route and a POST
    route is one resource: Starlette names only the first route's methods)."""
    allowed = []
    for method in CANDIDATE_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


async def _database_unavailable(request: Request, exc: OperationalError) -> JSONResponse:
    log.warning("database unavailable (%s)", type(exc.orig).__name__ if exc.orig else "OperationalError")
    response = problem(503, None, "the database is not reachable; retry later")
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


async def _value_not_storable(request: Request, exc: DataError) -> JSONResponse:
    """A value the database refuses (a NUL in text, a number out of its range): the request's fault, said
    without the value. Bodies are checked before this; it is the net under what a check missed."""
    log.warning(
        "a value refused by the database on %s %s (%s)", request.method, request.url.path, type(exc.orig).__name__
    )
    return problem(422, "Invalid request", "a value of the request cannot be stored or compared (a NUL character?)")


UNEXPECTED_DETAIL = "an unexpected error occurred; it has been logged"


def log_unexpected(method: str, path: str, exc: Exception) -> None:
    """An error no handler expected, logged with a traceback free of personal data."""
    log.error("unexpected %s on %s %s\n%s", type(exc).__name__, method, path, safe_trace(exc))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log_unexpected(request.method, request.url.path, exc)
    return problem(500, "Internal error", UNEXPECTED_DETAIL)
