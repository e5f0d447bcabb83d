"""The referral service's errors as HTTP problems (the rest of the conventions: rujukan.core.http)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from rujukan.core.errors import RujukanError
from rujukan.core.http import install_problem_handlers, map_by_kind
from rujukan.referral.errors import (
    ActionNotAllowed,
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    InvalidRequest,
    NotController,
    NotFound,
    Unauthenticated,
    VersionMismatch,
)

STATUS_FOR: list[tuple[type[RujukanError], int, str]] = [
    (Unauthenticated, 401, "Unauthenticated"),
    (NotFound, 404, "Not found"),
    (NotController, 403, "Not the controller"),
    (Forbidden, 403, "Forbidden"),
    (ActionNotAllowed, 409, "Action not allowed"),
    (Conflict, 409, "Conflict"),
    (VersionMismatch, 412, "Precondition failed"),
    (IdempotencyKeyReused, 422, "Idempotency key reused"),
    (InvalidRequest, 422, "Invalid request"),
]


_by_kind = map_by_kind(STATUS_FOR)


def map_error(exc: RujukanError) -> tuple[int, str, dict[str, Any]] | None:
    mapped = _by_kind(exc)
    if mapped is not None and isinstance(exc, ActionNotAllowed):
        status, title, _ = mapped
        return status, title, {"current_status": exc.status, "allowed_actions": exc.allowed}
    return mapped


def install(app: FastAPI) -> None:
    install_problem_handlers(app, map_error)
