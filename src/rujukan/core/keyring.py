"""The keyring: the master keys that wrap subject data keys, by key id, and the keys of every other purpose.

A keyring names one *active* wrapping key (new subject keys are wrapped under it) and keeps the older ones
until a rotation has re-wrapped every subject key and retires them. The other purposes (the NIK index,
request fingerprints, the person link, subject aliases) each have a key of their own that does not
change with a rotation, so lookups made before a rotation still match after it; none of them opens
anything.

Key file (``RUJUKAN_MASTER_KEY_FILE``, default ``<data dir>/master.key``, mode 0600), either:

- a single base64 line (the format before key ids): a *legacy* keyring whose one key both wraps and, by
  the labelled HMACs used since the start, derives the purpose keys; or
- JSON ``{"format": "rujukan-keyring/1", "active": KID, "wrapping": {KID: B64, ...}, "purposes":
  {"nik_index": B64, "fingerprint": B64, "person": B64, "alias": B64}, "legacy": KID | null}``.

A new keyring's purpose keys are derived with HKDF-SHA256 from a random root that is not kept. A key id is
the first 8 hex digits of SHA-256 over a label and the key. ``legacy`` names the key that opens wrapped
keys made before envelopes named their key (the first rotation re-wraps them all and clears it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from rujukan.core.errors import RujukanError

KEY_SIZE = 32
FORMAT = "rujukan-keyring/1"
PURPOSES = {
    "nik_index": b"rujukan nik index v1",
    "fingerprint": b"rujukan request fingerprint v1",
    "person": b"rujukan person link v1",
    "alias": b"rujukan subject alias v1",
}


class KeyringError(RujukanError):
    """A key or key file that cannot be used; never holds key material."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"rujukan key id\x00" + key).hexdigest()[:8]


@dataclass(frozen=True)
class Keyring:
    active: str
    wrapping: dict[str, bytes]
    purposes: dict[str, bytes]
    legacy: str | None = None
    mtime: float = field(default=0.0, compare=False)  # of the file it was read from

    def __post_init__(self) -> None:
        if self.active not in self.wrapping:
            raise KeyringError("the keyring's active key is not in it")
        if any(len(k) != KEY_SIZE for k in [*self.wrapping.values(), *self.purposes.values()]):
            raise KeyringError("every key of the keyring must be 32 bytes")
        if set(self.purposes) != set(PURPOSES):
            raise KeyringError(f"the keyring must hold a key for each of {', '.join(PURPOSES)}")

    def __repr__(self) -> str:
        return f"Keyring(active={self.active}, keys={sorted(self.wrapping)})"

    @classmethod
    def from_legacy(cls, key: bytes) -> Keyring:
        """One key that both wraps and derives the purpose keys, as before key ids."""
        if len(key) != KEY_SIZE:
            raise KeyringError("the master key must be 32 bytes")
        kid = key_id(key)
        purposes = {name: hmac.new(key, label, hashlib.sha256).digest() for name, label in PURPOSES.items()}
        return cls(active=kid, wrapping={kid: key}, purposes=purposes, legacy=kid)

    @classmethod
    def generate(cls) -> Keyring:
        wrapping = secrets.token_bytes(KEY_SIZE)
        root = secrets.token_bytes(KEY_SIZE)
        purposes = {name: _hkdf(root, label) for name, label in PURPOSES.items()}
        return cls(active=key_id(wrapping), wrapping={key_id(wrapping): wrapping}, purposes=purposes)

    def rotated(self) -> Keyring:
        """A new active wrapping key beside the old ones (still needed until every subject key is re-wrapped)."""
        new = secrets.token_bytes(KEY_SIZE)
        return replace(self, active=key_id(new), wrapping={**self.wrapping, key_id(new): new})

    def retired(self) -> Keyring:
        """Only the active wrapping key: the others (and the legacy marker) are gone."""
        return replace(self, wrapping={self.active: self.wrapping[self.active]}, legacy=None)

    # -- the file ------------------------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> Keyring:
        stripped = text.strip()
        if not stripped.startswith("{"):
            return cls.from_legacy(_b64(stripped))
        try:
            data: dict[str, Any] = json.loads(stripped)
            if data.get("format") != FORMAT:
                raise KeyringError(f"the key file is not a {FORMAT} keyring")
            return cls(
                active=str(data["active"]),
                wrapping={str(k): _b64(v) for k, v in data["wrapping"].items()},
                purposes={str(k): _b64(v) for k, v in data["purposes"].items()},
                legacy=data.get("legacy"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyringError("the key file is not a valid keyring") from exc

    def dumps(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "active": self.active,
                "wrapping": {k: _text(v) for k, v in self.wrapping.items()},
                "purposes": {k: _text(v) for k, v in self.purposes.items()},
                "legacy": self.legacy,
            },
            indent=2,
        )

    @classmethod
    def read(cls, path: Path) -> Keyring:
        try:
            text, mtime = path.read_text(), path.stat().st_mtime
        except FileNotFoundError as exc:
            raise KeyringError(f"the master key file {path} is missing; restore it (a new key opens nothing)") from exc
        except OSError as exc:
            raise KeyringError(f"the master key file {path} cannot be read ({exc.strerror})") from exc
        return replace(cls.parse(text), mtime=mtime)

    def write(self, path: Path) -> None:
        """Replace ``path`` atomically with this keyring, readable by the owner only."""
        temporary = path.with_name(path.name + ".new")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(self.dumps() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)


def _hkdf(root: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=label).derive(root)


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise KeyringError("a key of the key file is not valid base64") from exc


def _text(key: bytes) -> str:
    return base64.b64encode(key).decode()
