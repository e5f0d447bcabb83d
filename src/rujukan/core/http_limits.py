"""Abuse limits of the HTTP APIs, enforced before any route runs: the request body size (also for
chunked uploads) and a request rate per credential.

The rate limit is a token bucket per caller: ``per_second`` sustained, ``burst`` at once. A caller is
the SHA-256 of its bearer credential (or of its session cookie, or its address when it sends neither),
so no secret is kept in memory. Over the limit: 429 problem+json with Retry-After, before any
database work. Buckets live in the process (one per API instance) and the oldest are forgotten beyond
``max_callers``, so memory is bounded whatever callers an attacker invents.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rujukan.core.http import problem

if TYPE_CHECKING:
    from fastapi import FastAPI

    from rujukan.core.settings import CoreSettings


def install_limits(app: FastAPI, settings: CoreSettings, *, max_body_bytes: int) -> None:
    """The rate limit outermost (a caller over its rate is refused before its body is read), then the
    body size limit."""
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(RateLimit, per_second=settings.rate_limit_per_s, burst=settings.rate_limit_burst)


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; FastAPI passes HTTPExceptions through to the problem handler."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, body_limit_detail(max_bytes))


def body_limit_detail(max_bytes: int) -> str:
    return f"request bodies are limited to {max_bytes} bytes"


class BodySizeLimit:
    """ASGI middleware answering 413 problem+json for bodies over ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await problem(413, "Request body too large", body_limit_detail(self.max_bytes))(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)


class RateLimit:
    """ASGI middleware answering 429 problem+json with Retry-After to a caller over its rate."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        per_second: float,
        burst: int,
        max_callers: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.per_second = per_second
        self.burst = burst
        self.max_callers = max_callers
        self._clock = clock
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()  # caller -> (tokens, at)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.per_second <= 0:
            await self.app(scope, receive, send)
            return
        wait_s = self._take(caller(scope))
        if wait_s > 0:
            detail = f"at most {self.per_second:g} requests a second per credential (bursts of {self.burst})"
            refused = problem(429, "Too many requests", detail)
            refused.headers["Retry-After"] = str(max(1, math.ceil(wait_s)))
            await refused(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _take(self, key: bytes) -> float:
        """Spend one token of ``key``'s bucket; 0 if there was one, else the seconds until there is."""
        now = self._clock()
        tokens, at = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.per_second)
        wait_s = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait_s = (1 - tokens) / self.per_second
        self._buckets[key] = (tokens, now)  # most recently seen last
        while len(self._buckets) > self.max_callers:
            self._buckets.popitem(last=False)
        return wait_s


def caller(scope: Scope) -> bytes:
    """Who is calling: a digest of the credential, else of the cookies, else of the client address."""
    headers = dict(scope.get("headers", []))
    identity = headers.get(b"authorization") or headers.get(b"cookie")
    if identity is None:
        client = scope.get("client")
        identity = str(client[0] if client else "unknown").encode()
    return hashlib.sha256(identity).digest()
