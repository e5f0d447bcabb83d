"""The referral service's errors as HTTP problems (the rest of the conventions: rujukan.core.http)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from rujukan.core.errors import RujukanError
from rujukan.core.http import install_problem_handlers
from rujukan.referral.errors import (
    ActionNotAllowed,
    Conflict,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    Unauthenticated,
)

STATUS_FOR: list[tuple[type[RujukanError], int, str]] = [
    (Unauthenticated, 401, "Unauthenticated"),
    (NotFound, 404, "Not found"),
    (ActionNotAllowed, 409, "Action not allowed"),
    (Conflict, 409, "Conflict"),
    (IdempotencyKeyReused, 422, "Idempotency key reused"),
    (InvalidRequest, 422, "Invalid request"),
]


def map_error(exc: RujukanError) -> tuple[int, str, dict[str, Any]] | None:
    for kind, status, title in STATUS_FOR:
        if isinstance(exc, kind):
            extra: dict[str, Any] = {}
            if isinstance(exc, ActionNotAllowed):
                extra = {"current_status": exc.status, "allowed_actions": exc.allowed}
            return status, title, extra
    return None


def install(app: FastAPI) -> None:
    install_problem_handlers(app, map_error)
