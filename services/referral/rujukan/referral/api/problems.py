"""RFC 9457 problem details: every error the API answers, mapped from the service's errors in one place.

Validation errors list the failing fields and why, but never echo the submitted values (they may be a
name or an NIK). Unexpected exceptions answer 500 with no detail and are logged by class name only.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from rujukan.referral.errors import (
    ActionNotAllowed,
    Conflict,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    ReferralServiceError,
    Unauthenticated,
)

log = logging.getLogger("rujukan.referral.api")
PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_S = 5

STATUS_FOR: list[tuple[type[ReferralServiceError], int, str]] = [
    (Unauthenticated, 401, "Unauthenticated"),
    (NotFound, 404, "Not found"),
    (ActionNotAllowed, 409, "Action not allowed"),
    (Conflict, 409, "Conflict"),
    (IdempotencyKeyReused, 422, "Idempotency key reused"),
    (InvalidRequest, 422, "Invalid request"),
]


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ReferralServiceError, _service_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(OperationalError, _database_unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


async def _service_error(request: Request, exc: ReferralServiceError) -> JSONResponse:
    for kind, status, title in STATUS_FOR:
        if isinstance(exc, kind):
            extra: dict[str, Any] = {}
            if isinstance(exc, ActionNotAllowed):
                extra = {"current_status": exc.status, "allowed_actions": exc.allowed}
            return problem(status, title, str(exc), **extra)
    return await _unexpected(request, exc)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"location": ".".join(str(part) for part in error.get("loc", ())), "message": error.get("msg", "invalid")}
        for error in exc.errors()
    ]
    return problem(422, "Invalid request", "the request does not match the API schema", errors=errors)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return problem(exc.status_code, _title(exc.status_code), str(exc.detail) if exc.detail else None)


async def _database_unavailable(request: Request, exc: OperationalError) -> JSONResponse:
    log.warning("database unavailable (%s)", type(exc.orig).__name__ if exc.orig else "OperationalError")
    response = problem(503, "Service unavailable", "the database is not reachable; retry later")
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return problem(500, "Internal error", "an unexpected error occurred; it has been logged")


def _title(status: int) -> str:
    return {
        400: "Bad request",
        404: "Not found",
        405: "Method not allowed",
        413: "Request body too large",
        415: "Unsupported media type",
    }.get(status, "Error")
