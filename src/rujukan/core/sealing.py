"""Sealed personal data: AES-256-GCM under per-subject data keys, wrapped by a master key.

Envelope of a sealed value: ``0x01`` (format version), a 12-byte random nonce, then AES-256-GCM
ciphertext and tag. The associated data binds a sealed value to its subject, its referral and its field,
so a sealed blob cannot be moved to another referral or field and still open.

A subject's data key is 32 random bytes, stored only wrapped under a master key of the keyring
(:mod:`rujukan.core.keyring`): ``0x02``, the key id (8 characters), a nonce, then AES-256-GCM with the key
id and the subject id as associated data (wrapped keys from before key ids: ``0x01``, nonce, ciphertext,
under the legacy key). Destroying the wrapped key (crypto-shredding) makes every sealed field of that
subject, in every copy of the immutable log, unreadable; a rotation re-wraps every wrapped key under a new
master key and retires the old one, so an old copy of the key file opens nothing either.

NIKs are looked up by keyed hashes (HMAC-SHA256 under a purpose key of the keyring), so an agency keeps
one subject per person without the NIK being stored in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rujukan.core.errors import RujukanError
from rujukan.core.keyring import Keyring, KeyringError

ENVELOPE_VERSION = b"\x01"
WRAP_VERSION = b"\x02"  # a wrapped data key that names its master key
KID_SIZE = 8
NONCE_SIZE = 12
KEY_SIZE = 32
RELOAD_S = 1.0


class SealingError(RujukanError):
    """A sealed value or wrapped key does not open (wrong key, tampered, or erased subject)."""


class MasterKey:
    """The keyring every use case seals under (see :mod:`rujukan.core.keyring`). Never logged, never in an
    error message. Read from a key file, it follows the file: a rotation written by ``rujukan keys
    rotate`` is picked up (at most a second later) by every process using it."""

    def __init__(self, key: bytes | Keyring, *, source: Path | None = None) -> None:
        try:
            self._keyring = key if isinstance(key, Keyring) else Keyring.from_legacy(key)
        except KeyringError as exc:
            raise SealingError(str(exc)) from exc
        self._source = source
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    @classmethod
    def from_base64(cls, text: str) -> MasterKey:
        try:
            return cls(base64.b64decode(text.strip(), validate=True))
        except ValueError as exc:
            raise SealingError("the master key is not valid base64") from exc

    @classmethod
    def from_file(cls, path: Path) -> MasterKey:
        return cls(Keyring.read(path), source=path)

    @classmethod
    def load_or_create(cls, path: Path) -> MasterKey:
        """Embedded mode: read the key file, or create a new keyring (mode 0600) on the first start."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            Keyring.generate().write(path)
        return cls.from_file(path)

    def __repr__(self) -> str:
        return "MasterKey(<secret>)"

    @property
    def keyring(self) -> Keyring:
        """The keyring, read again when its file changed (checked at most once a second)."""
        if self._source is not None and time.monotonic() - self._checked > RELOAD_S:
            with self._lock:
                self._checked = time.monotonic()
                try:
                    changed = self._source.stat().st_mtime != self._keyring.mtime
                    if changed:
                        self._keyring = Keyring.read(self._source)
                except (OSError, KeyringError):
                    pass  # keep the keyring in memory; the file is being replaced or was removed
        return self._keyring

    # -- subject data keys -------------------------------------------------------------------------------
    def new_wrapped_data_key(self, subject_id: str) -> bytes:
        return self.wrap(secrets.token_bytes(KEY_SIZE), subject_id)

    def wrap(self, data_key: bytes, subject_id: str, *, keyring: Keyring | None = None) -> bytes:
        """``data_key`` wrapped under the active key of ``keyring`` (default: this one); the envelope names it."""
        ring = keyring or self.keyring
        kid = ring.active.encode()
        nonce = secrets.token_bytes(NONCE_SIZE)
        return (
            WRAP_VERSION
            + kid
            + nonce
            + AESGCM(ring.wrapping[ring.active]).encrypt(nonce, data_key, _wrap_ad(kid, subject_id))
        )

    def unwrap(self, wrapped: bytes, subject_id: str) -> DataKey:
        return DataKey(self.unwrap_bytes(wrapped, subject_id))

    def unwrap_bytes(self, wrapped: bytes, subject_id: str) -> bytes:
        if wrapped[:1] == ENVELOPE_VERSION:  # before key ids: the legacy key
            legacy = self.keyring.legacy
            if legacy is None:
                raise SealingError("a wrapped key from before key ids, and the legacy key was retired")
            return _open(AESGCM(self.keyring.wrapping[legacy]), wrapped, subject_id.encode())
        kid = wrapped_key_id(wrapped)
        key = self.keyring.wrapping.get(kid or "")
        if kid is None or key is None:
            raise SealingError(f"a key wrapped under key {kid}, which this keyring does not hold")
        body = wrapped[1 + KID_SIZE :]
        nonce = body[:NONCE_SIZE]
        try:
            return AESGCM(key).decrypt(nonce, body[NONCE_SIZE:], _wrap_ad(kid.encode(), subject_id))
        except InvalidTag as exc:
            raise SealingError("wrapped key does not open with this key and subject") from exc

    # -- keyed hashes (none of them opens anything) ------------------------------------------------------
    def fingerprint(self, data: bytes) -> str:
        """Keyed hash of data that may hold personal data (e.g. a request body kept for idempotency)."""
        return hmac.new(self.keyring.purposes["fingerprint"], data, hashlib.sha256).hexdigest()

    def nik_index(self, nik: str, *, controller: str | None = None) -> str:
        """Keyed hash of a NIK as one agency (``controller``) knows it: equal for the same agency and NIK, and
        nothing without the key. Without ``controller``: the system-wide index of subjects made before
        subjects were scoped to their controller."""
        material = nik.strip() if controller is None else f"{controller}\x00{nik.strip()}"
        return hmac.new(self.keyring.purposes["nik_index"], material.encode(), hashlib.sha256).hexdigest()

    def person_index(self, nik: str) -> str:
        """Keyed hash linking one person's subjects across agencies; internal, never shown."""
        return hmac.new(self.keyring.purposes["person"], nik.strip().encode(), hashlib.sha256).hexdigest()

    def subject_alias(self, viewer: str, subject_id: str) -> str:
        """The id under which agency ``viewer`` sees a subject: stable for it, unlinkable to other agencies'."""
        message = f"{viewer}\x00{subject_id}".encode()
        return "sub_" + hmac.new(self.keyring.purposes["alias"], message, hashlib.sha256).hexdigest()[:20]


def wrapped_key_id(wrapped: bytes) -> str | None:
    """The id of the key a wrapped data key is wrapped under; None for one from before key ids."""
    if wrapped[:1] != WRAP_VERSION or len(wrapped) < 1 + KID_SIZE + NONCE_SIZE + 16:
        return None
    return wrapped[1 : 1 + KID_SIZE].decode(errors="replace")


def _wrap_ad(kid: bytes, subject_id: str) -> bytes:
    return b"rujukan-wrap:" + kid + b":" + subject_id.encode()


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
