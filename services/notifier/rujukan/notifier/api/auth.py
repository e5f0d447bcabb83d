"""Agency callers of the notifier API.

Agencies hold one credential, issued by the referral service (the registry). The notifier does not see
the registry's database: it asks the referral service whose a credential is (``GET /v1/me`` with the
caller's own bearer) and remembers a positive answer for a short while (``CACHE_S``), keyed by the
credential's hash. A revoked credential therefore stops working here within ``CACHE_S`` seconds. A person's
staff secret is never remembered (the answer names the person), nor is the agency inbox's session, which the
notifier checks the same way (``GET /agency/api/me`` with the cookie) on every request: disabling a person
refuses their next request here too. An inbox session reads (the subscription, the delivery log); changes
take the agency's credential.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Annotated

import httpx2 as httpx
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rujukan.core.credentials import CSRF_HEADER, INBOX_SESSION_COOKIE, STAFF_HEADER, plausible, secret_hash
from rujukan.core.db import Database
from rujukan.notifier.errors import CheckUnavailable, Forbidden, Unauthenticated

CACHE_S = 30.0
MAX_TOKEN_LENGTH = 100
bearer = HTTPBearer(auto_error=False, description="The agency's credential from `rujukan credentials issue`.")
AgencyCheck = Callable[[str], str]  # bearer secret -> agency code, or raise Unauthenticated


class ReferralServiceCheck:
    """Asks the referral service whose a credential is."""

    def __init__(self, base_url: str, *, client: httpx.Client | None = None) -> None:
        self._url = base_url.rstrip("/") + "/v1/me"
        self._session_url = base_url.rstrip("/") + "/agency/api/me"
        self._client = client or httpx.Client(timeout=5.0, trust_env=False)
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def __call__(self, secret: str) -> str:
        if not plausible(secret):
            raise Unauthenticated("invalid credential")
        key = secret_hash(secret)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        try:
            response = self._client.get(self._url, headers={"authorization": f"Bearer {secret}"})
        except httpx.HTTPError as exc:
            raise CheckUnavailable("agency credentials cannot be checked now; retry later") from exc
        if response.status_code == 401:
            raise Unauthenticated("invalid credential")
        if response.status_code != 200:
            raise CheckUnavailable("agency credentials cannot be checked now; retry later")
        agency = str(response.json()["code"])
        if STAFF_HEADER.lower() in response.headers:
            return agency  # a person: asked again on their next request
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (agency, time.monotonic() + CACHE_S)
        return agency

    def session(self, token: str, csrf: str) -> str:
        """The agency of a live inbox session whose page sent its CSRF token (asked every time, never
        remembered)."""
        headers = {"cookie": f"{INBOX_SESSION_COOKIE}={token}", CSRF_HEADER: csrf}
        try:
            response = self._client.get(self._session_url, headers=headers)
        except httpx.HTTPError as exc:
            raise CheckUnavailable("inbox sessions cannot be checked now; retry later") from exc
        if response.status_code == 401:
            raise Unauthenticated("no session")
        if response.status_code == 403:
            raise Forbidden(f"a request made in an inbox session needs its {CSRF_HEADER} header")
        if response.status_code != 200:
            raise CheckUnavailable("inbox sessions cannot be checked now; retry later")
        return str(response.json()["agency_code"])

    def close(self) -> None:
        self._client.close()


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def calling_agency(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    check: AgencyCheck = request.app.state.agency_check
    token = request.cookies.get(INBOX_SESSION_COOKIE)
    if credentials is None and token and len(token) <= MAX_TOKEN_LENGTH and hasattr(check, "session"):
        if request.method not in ("GET", "HEAD"):
            raise Forbidden("the inbox shows the subscription; change it with the agency's credential")
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise Forbidden("an inbox session is used from the inbox's own pages only")
        return str(check.session(token, request.headers.get(CSRF_HEADER, "")))
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer credential")
    return check(credentials.credentials)


Agency = Annotated[str, Depends(calling_agency)]
Db = Annotated[Database, Depends(database)]
