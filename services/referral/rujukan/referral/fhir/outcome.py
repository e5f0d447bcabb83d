"""FHIR's side of the HTTP conventions, for every path under ``/fhir/``: JSON only (``_format`` or an
Accept asking for anything else answers 406, a body that is not JSON 415), and every error an
OperationOutcome with the status the rest of the API gives.

The errors themselves are made once, as problem+json, by the app's handlers and middlewares
(``rujukan.core.http``); this middleware rewrites those answers on FHIR paths, so the two APIs refuse
the same things for the same reasons.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers, QueryParams
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rujukan.core.http import PROBLEM_JSON, UNEXPECTED_DETAIL, log_unexpected
from rujukan.referral.fhir.resources import operation_outcome

FHIR_JSON = "application/fhir+json"
PREFIX = "/fhir/"
JSON_TYPES = frozenset(
    {"application/json", "application/fhir+json", "application/json+fhir", "application/json-patch+json"}
)
ACCEPTABLE = frozenset({*JSON_TYPES, "*/*", "application/*"})
FORMATS = frozenset({"json", "application/json", "application/fhir+json", "application/json+fhir"})
# HTTP status -> OperationOutcome issue type (http://hl7.org/fhir/issue-type)
ISSUE_TYPE = {
    400: "structure",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    412: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "invalid",
    429: "throttled",
    503: "transient",
}


def fhir_json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


class FhirResponse(JSONResponse):
    """A FHIR resource as compact JSON, typed application/fhir+json."""

    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return fhir_json(content)


def outcome_of_problem(problem: dict[str, Any], status: int) -> dict[str, Any]:
    """The OperationOutcome of a problem+json body: its detail, what is allowed now, each failing field."""
    diagnostics = str(problem.get("detail") or problem.get("title") or "error")
    if problem.get("allowed_actions") is not None:
        diagnostics += f" (status {problem.get('current_status')}; allowed: {', '.join(problem['allowed_actions'])})"
    expressions = [str(e.get("location")) for e in problem.get("errors") or [] if isinstance(e, dict)]
    if expressions:
        messages = "; ".join(f"{e.get('location')}: {e.get('message')}" for e in problem["errors"])
        diagnostics += f": {messages}"
    severity = "fatal" if status >= 500 else "error"
    return operation_outcome(severity, ISSUE_TYPE.get(status, "exception"), diagnostics, expressions or None)


def _media_types(header: str) -> list[str]:
    return [part.split(";")[0].strip().lower() for part in header.split(",") if part.strip()]


def refusal(scope: Scope) -> tuple[int, str] | None:
    """Why a FHIR request is refused before it reaches a route: (status, diagnostics), else None."""
    query = QueryParams(scope.get("query_string", b"").decode("latin-1"))
    headers = Headers(scope=scope)
    wanted = query.get("_format")
    if wanted is not None and wanted.lower() not in FORMATS:
        return 406, "only JSON is served (_format=json)"
    accept = headers.get("accept")
    if wanted is None and accept and not any(t in ACCEPTABLE for t in _media_types(accept)):
        return 406, "only JSON is served (Accept: application/fhir+json)"
    content_type = headers.get("content-type")
    has_body = scope["method"] in ("POST", "PUT", "PATCH") and content_type
    if has_body and not any(t in JSON_TYPES for t in _media_types(content_type or "")):
        return 415, "bodies must be JSON (Content-Type: application/fhir+json)"
    return None


class FhirOutcomes:
    """ASGI middleware: on FHIR paths, the negotiation above and OperationOutcomes for problem+json."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        refused = refusal(scope)
        if refused is not None:
            status, diagnostics = refused
            body = fhir_json(operation_outcome("error", "not-supported", diagnostics))
            await _answer(send, status, body, [])
            return
        held: dict[str, Any] = {}

        async def rewrite(message: Message) -> None:
            if message["type"] == "http.response.start":
                held["started"] = True
                headers = Headers(raw=message.get("headers", []))
                if headers.get("content-type", "").startswith(PROBLEM_JSON):
                    held["start"], held["body"] = message, b""
                    return
            elif message["type"] == "http.response.body" and "start" in held:
                held["body"] += message.get("body", b"")
                if message.get("more_body"):
                    return
                start = held.pop("start")
                problem = json.loads(held["body"] or b"{}")
                body = fhir_json(outcome_of_problem(problem, start["status"]))
                kept = [
                    (k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-type", b"content-length")
                ]
                await _answer(send, start["status"], body, kept)
                return
            await send(message)

        try:
            await self.app(scope, receive, rewrite)
        except Exception as exc:  # the app's catch-all handler sits outside this middleware: answered here
            if held.get("started"):
                raise  # an answer is on its way: nothing more can be said
            log_unexpected(scope["method"], scope["path"], exc)
            await _answer(send, 500, fhir_json(operation_outcome("fatal", "exception", UNEXPECTED_DETAIL)), [])


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-type", FHIR_JSON.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
