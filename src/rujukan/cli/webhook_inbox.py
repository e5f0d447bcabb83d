"""The webhook inbox ``rujukan up`` serves at ``/demo/webhooks``: a local receiver for the demo agencies'
(and the coordinators') subscriptions, so a demo shows signed webhooks arriving without any agency system.

``POST /demo/webhooks/{OWNER}`` checks the Standard Webhooks signature with the owner's current secrets
and answers 204 (verified) or 401; ``GET /demo/webhooks`` shows what arrived: counts, per owner, and the
latest deliveries. Payloads are thin (types, ids, statuses), so nothing identifying is kept; at most
``keep`` deliveries stay in memory.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from rujukan.notifier.signing import signature_headers


class WebhookInbox:
    """``POST /demo/webhooks/{OWNER}`` verifies the signature with the owner's current secrets (asked of
    ``secrets_of``), answers 204 or 401, and keeps the last deliveries in memory; ``GET /demo/webhooks``
    shows them (thin payloads only)."""

    def __init__(self, secrets_of: Callable[[str], list[str]], keep: int = 500) -> None:
        self._secrets_of = secrets_of
        self._received: deque[dict[str, Any]] = deque(maxlen=keep)
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False) and len(body) < 65536
        agency = scope["path"].rstrip("/").rsplit("/", 1)[-1]
        if scope["method"] == "GET":
            await _answer(send, 200, json.dumps(self.summary()).encode())
        elif scope["method"] == "POST":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            verified = self._verify(agency, headers, body)
            self._record(agency, verified, body, headers)
            await _answer(send, 204 if verified else 401, b"")
        else:
            await _answer(send, 405, b"")

    def _verify(self, agency: str, headers: dict[str, str], body: bytes) -> bool:
        secrets = self._secrets_of(agency)
        given = set(headers.get("webhook-signature", "").split())
        if not secrets or not given or "webhook-id" not in headers or "webhook-timestamp" not in headers:
            return False
        try:
            timestamp = int(headers["webhook-timestamp"])
        except ValueError:
            return False
        if abs(time.time() - timestamp) > 300:
            return False
        for secret in secrets:
            expected = signature_headers([secret], message_id=headers["webhook-id"], timestamp=timestamp, body=body)
            if any(hmac.compare_digest(expected["webhook-signature"], g) for g in given):
                return True
        return False

    def _record(self, agency: str, verified: bool, body: bytes, headers: dict[str, str]) -> None:
        try:
            message = json.loads(body)
        except ValueError:
            message = {}
        with self._lock:
            self._counts["verified" if verified else "refused"] += 1
            self._received.appendleft(
                {
                    "agency": agency,
                    "verified": verified,
                    "type": message.get("type"),
                    "referral_id": message.get("data", {}).get("referral_id"),
                    "webhook_id": headers.get("webhook-id"),
                    "received_at": dt.datetime.now(dt.UTC).isoformat(),
                }
            )

    def summary(self) -> dict[str, Any]:
        with self._lock:
            by_agency = Counter(str(r["agency"]) for r in self._received)
            return {"counts": dict(self._counts), "by_agency": dict(by_agency), "latest": list(self._received)[:50]}


async def _answer(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json")] if body else []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
