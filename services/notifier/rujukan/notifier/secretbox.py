"""Webhook signing secrets at rest: sealed under the notifier's own key, opened only to sign.

Signing needs a secret in the clear, so it cannot be hashed like a credential; it is stored sealed with
AES-256-GCM under the notifier key (``RUJUKAN_NOTIFIER_KEY_FILE``, default ``notifier.key`` in the data
dir, 32 random bytes in base64, mode 0600, made on the first start), bound to its row's id:
``enc1:`` + base64(nonce || ciphertext). Rows stored in the clear before are sealed at start
(``seal_stored_secrets``). A copy of the notifier database alone signs nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete
from sqlmodel import col, select

from rujukan.core.db import Database
from rujukan.core.loops import Periodic
from rujukan.notifier.errors import SecretBoxError
from rujukan.notifier.models import SubscriptionSecret

PREFIX = "enc1:"
INTERVAL_S = 600.0
NONCE_SIZE = 12


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise SecretBoxError("the notifier key must be 32 bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretBox(<secret>)"

    @classmethod
    def load(cls, path: Path, *, create: bool) -> SecretBox:
        """The key in ``path``; with ``create``, a new one when the file does not exist yet."""
        if not path.exists():
            if not create:
                raise SecretBoxError(f"the notifier key file {path} is missing; restore it")
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
        try:
            return cls(base64.b64decode(path.read_text().strip(), validate=True))
        except ValueError as exc:
            raise SecretBoxError("the notifier key is not valid base64") from exc

    def seal(self, secret: str, *, secret_id: str) -> str:
        nonce = secrets.token_bytes(NONCE_SIZE)
        sealed = self._aead.encrypt(nonce, secret.encode(), secret_id.encode())
        return PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, stored: str, *, secret_id: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # stored before secrets were sealed (sealed at the next start)
        raw = base64.b64decode(stored[len(PREFIX) :])
        try:
            return self._aead.decrypt(raw[:NONCE_SIZE], raw[NONCE_SIZE:], secret_id.encode()).decode()
        except InvalidTag as exc:
            raise SecretBoxError("a webhook secret does not open with the notifier key") from exc


def seal_stored_secrets(db: Database, box: SecretBox) -> int:
    """Seal the secrets stored in the clear before; how many."""
    with db.transaction() as session:
        rows = session.exec(select(SubscriptionSecret).where(~col(SubscriptionSecret.secret).startswith(PREFIX))).all()
        for row in rows:
            row.secret = box.seal(row.secret, secret_id=row.id)
            session.add(row)
        return len(rows)


def purge_expired_secrets(db: Database, *, now: dt.datetime) -> int:
    """Delete the secrets whose overlap has ended (they sign nothing any more); how many."""
    with db.transaction() as session:
        done = session.execute(delete(SubscriptionSecret).where(col(SubscriptionSecret.expires_at) <= now))
        return int(done.rowcount or 0)  # type: ignore[attr-defined]


def secret_housekeeping(db: Database, box: SecretBox) -> Periodic:
    """A loop worker of the notifier: at start and every ``INTERVAL_S`` seconds, seals the secrets stored in
    the clear and deletes those whose overlap has ended."""
    return Periodic(
        lambda: seal_stored_secrets(db, box) + purge_expired_secrets(db, now=dt.datetime.now(dt.UTC)),
        interval_s=INTERVAL_S,
    )
