"""Standard Webhooks signatures: ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``.

The signature is ``v1,`` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")) where the key is the
base64 part of the ``whsec_`` secret. While a rotated secret's overlap window runs, every delivery is
signed with the new and the old secret (space separated), so receivers can switch at their own pace.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format prefix of Standard Webhooks secrets, not a secret
SECRET_BYTES = 32  # the Standard Webhooks specification asks for 24 to 64


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature_headers(signing_secrets: list[str], *, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers for ``body``, signed with every secret given (newest first)."""
    if not signing_secrets:
        raise ValueError("at least one secret is needed to sign")
    to_sign = f"{message_id}.{timestamp}.".encode() + body
    signatures = " ".join(
        "v1," + base64.b64encode(hmac.new(_key(s), to_sign, hashlib.sha256).digest()).decode("ascii")
        for s in signing_secrets
    )
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": signatures}


def hint(secret: str) -> str:
    """What may be shown of a secret after it was issued: enough to tell two apart, useless to sign."""
    return secret[: len(SECRET_PREFIX) + 4] + "..."
