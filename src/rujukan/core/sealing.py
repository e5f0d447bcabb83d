"""Sealed personal data: AES-256-GCM under per-subject data keys, wrapped by a master key.

Envelope of a sealed value: ``0x01`` (format version), a 12-byte random nonce, then AES-256-GCM
ciphertext and tag. The associated data binds a sealed value to its subject, its referral and its field,
so a sealed blob cannot be moved to another referral or field and still open.

A subject's data key is 32 random bytes, stored only wrapped: the same envelope format under the master
key, with the subject id as associated data. Destroying the wrapped key (crypto-shredding) makes every
sealed field of that subject, in every copy of the immutable log, unreadable.

NIKs are looked up by a keyed hash (HMAC-SHA256 under a key derived from the master key), so the same
person keeps one pseudonymous subject id without the NIK being stored in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rujukan.core.errors import RujukanError

ENVELOPE_VERSION = b"\x01"
NONCE_SIZE = 12
KEY_SIZE = 32


class SealingError(RujukanError):
    """A sealed value or wrapped key does not open (wrong key, tampered, or erased subject)."""


class MasterKey:
    """The key that wraps every subject data key. Never logged, never in an error message."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise SealingError("the master key must be 32 bytes")
        self._aead = AESGCM(key)
        self._index_key = hmac.new(key, b"rujukan nik index v1", hashlib.sha256).digest()
        self._fingerprint_key = hmac.new(key, b"rujukan request fingerprint v1", hashlib.sha256).digest()

    @classmethod
    def from_base64(cls, text: str) -> MasterKey:
        try:
            return cls(base64.b64decode(text.strip(), validate=True))
        except ValueError as exc:
            raise SealingError("the master key is not valid base64") from exc

    @classmethod
    def load_or_create(cls, path: Path) -> MasterKey:
        """Embedded mode: read the key file, or create one (mode 0600) on first start."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(base64.b64encode(secrets.token_bytes(KEY_SIZE)).decode() + "\n")
        return cls.from_base64(path.read_text())

    def __repr__(self) -> str:
        return "MasterKey(<secret>)"

    def new_wrapped_data_key(self, subject_id: str) -> bytes:
        return _seal(self._aead, secrets.token_bytes(KEY_SIZE), subject_id.encode())

    def unwrap(self, wrapped: bytes, subject_id: str) -> DataKey:
        return DataKey(_open(self._aead, wrapped, subject_id.encode()))

    def fingerprint(self, data: bytes) -> str:
        """Keyed hash of data that may hold personal data (e.g. a request body kept for idempotency)."""
        return hmac.new(self._fingerprint_key, data, hashlib.sha256).hexdigest()

    def nik_index(self, nik: str) -> str:
        """Keyed hash of a NIK: equal NIKs give equal values, and the value reveals nothing without the key."""
        return hmac.new(self._index_key, nik.strip().encode(), hashlib.sha256).hexdigest()


class DataKey:
    """A subject's unwrapped data key; lives only in memory for the duration of one use case."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "DataKey(<secret>)"

    def seal(self, plaintext: bytes, *, subject_id: str, referral_id: str, field: str) -> bytes:
        return _seal(self._aead, plaintext, _context(subject_id, referral_id, field))

    def open(self, sealed: bytes, *, subject_id: str, referral_id: str, field: str) -> bytes:
        return _open(self._aead, sealed, _context(subject_id, referral_id, field))


def _context(subject_id: str, referral_id: str, field: str) -> bytes:
    return f"rujukan:v1:{subject_id}:{referral_id}:{field}".encode()


def _seal(aead: AESGCM, plaintext: bytes, associated: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_SIZE)
    return ENVELOPE_VERSION + nonce + aead.encrypt(nonce, plaintext, associated)


def _open(aead: AESGCM, sealed: bytes, associated: bytes) -> bytes:
    if len(sealed) < 1 + NONCE_SIZE + 16 or sealed[:1] != ENVELOPE_VERSION:
        raise SealingError("not a sealed value")
    nonce = sealed[1 : 1 + NONCE_SIZE]
    try:
        return aead.decrypt(nonce, sealed[1 + NONCE_SIZE :], associated)
    except InvalidTag as exc:
        raise SealingError("sealed value does not open with this key and context") from exc
