"""Bearer secrets shared by the services: ``rjk_`` followed by 43 random URL-safe characters (256 bits).

Only a SHA-256 of a secret is stored: a fast hash is right for a random 256-bit secret, and it lets a
request find its credential by an indexed lookup; the final comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

SECRET_PREFIX = "rjk_"  # noqa: S105 - a prefix that marks Rujukan secrets, not a secret
MAX_SECRET_LENGTH = 100


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def plausible(secret: str) -> bool:
    """Cheap rejection of strings that cannot be a Rujukan secret, before any database lookup."""
    return secret.startswith(SECRET_PREFIX) and len(secret) <= MAX_SECRET_LENGTH


def matches(stored_hash: str, secret: str) -> bool:
    return hmac.compare_digest(stored_hash, secret_hash(secret))


INBOX_SESSION_COOKIE = "rujukan_agency"
"""The agency inbox's session cookie (set by the referral service; the notifier forwards it to ask whose)."""
CSRF_HEADER = "X-CSRF-Token"
"""Carries an inbox session's CSRF token on every API request the session makes, in every service."""
STAFF_HEADER = "X-Rujukan-Staff"
"""Named in an answer of ``GET /v1/me`` when the caller is a person (a staff account): never cache it, so
that disabling the person refuses their next request in every service."""

CACHE_TTL_S = 1.0  # a revoked credential stops working within this


class CredentialCache:
    """Who a secret's hash belongs to, remembered for at most ``ttl_s`` (monotonic clock), so that a
    request need not read the credential table: a revocation is honoured within ``ttl_s``. Only found,
    valid credentials are remembered; the cache is bounded (emptied when full, then refilled)."""

    def __init__(self, *, ttl_s: float = CACHE_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._found: dict[str, tuple[str, float]] = {}

    def get(self, digest: str) -> str | None:
        found = self._found.get(digest)
        if found is None:
            return None
        owner, until = found
        if self._clock() >= until:
            self._found.pop(digest, None)
            return None
        return owner

    def forget(self, digest: str) -> None:
        """A credential revoked by this process stops working here at once."""
        self._found.pop(digest, None)

    def put(self, digest: str, owner: str) -> None:
        if len(self._found) >= MAX_CACHED:
            self._found.clear()
        self._found[digest] = (owner, self._clock() + self._ttl_s)


MAX_CACHED = 10_000
