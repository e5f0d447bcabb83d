"""Bearer secrets shared by the services: ``rjk_`` followed by 43 random URL-safe characters (256 bits).

Only a SHA-256 of a secret is stored: a fast hash is right for a random 256-bit secret, and it lets a
request find its credential by an indexed lookup; the final comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

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
