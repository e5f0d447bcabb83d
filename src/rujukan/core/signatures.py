"""The referral service's two Ed25519 keys, and checking what they signed.

- The **event key** signs each event's encoded bytes as the referral service stores it; the signature
  travels in the message header ``signature`` as ``key hash (4 bytes) || signature (64 bytes)``, the key
  hash made as for a signed note (:func:`rujukan.core.tlog.key_hash`) under the name ``<origin>/events``.
  The relay publishes only events that carry a good signature, and a replay checks every one: an event
  put into the event store by someone with database access but without this key is caught.
- The **log key** signs the log's checkpoints (C2SP signed notes) under the name ``<origin>``.

Events are signed and verified with libsodium (PyNaCl): the same Ed25519, the same signatures (they are
deterministic), in about half the time of OpenSSL's (36 and 70-90 microseconds here), and every event of
the log is signed once and verified by the relay and by every replay.

Both private keys derive (HKDF-SHA256, one label each) from one 32-byte secret, kept as base64 in a file
(``signing.key`` beside the master key, mode 0600; ``head -c 32 /dev/urandom | base64`` makes one) or in
``RUJUKAN_SIGNING_KEY``. They never leave the referral service: everyone else gets the public halves as
note verifier keys, ``<name>+<hex key hash>+<base64(0x01 || key)>``.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from rujukan.core.errors import RujukanError
from rujukan.core.tlog import key_hash, parse_verifier_key, verifier_key

SECRET_SIZE = 32
LOG_LABEL, EVENTS_LABEL = b"rujukan transparency log checkpoint key", b"rujukan event signing key"
SIGNATURE_HEADER = "signature"
SIGNATURE_SIZE = 4 + 64
EVENTS_SUFFIX = "/events"


class SigningKeyError(RujukanError):
    """The signing key file or secret is missing or not valid."""


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A public key with its note name; ``text`` is the note verifier key."""

    name: str
    public: bytes

    @property
    def hash(self) -> bytes:
        return key_hash(self.name, self.public)

    @property
    def text(self) -> str:
        return verifier_key(self.name, self.public)

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        name, _, public = parse_verifier_key(text.strip())
        return cls(name, public)


@dataclass(frozen=True)
class PublicKeys:
    """What a verifier of the log needs: the log key (checkpoints) and the event key (each event)."""

    log: VerifierKey
    events: VerifierKey
    # made once: a replay checks every event with them
    events_key_hash: bytes = field(init=False, repr=False, compare=False)
    _event_key: VerifyKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "events_key_hash", self.events.hash)
        object.__setattr__(self, "_event_key", VerifyKey(self.events.public))

    @classmethod
    def parse(cls, texts: list[str]) -> PublicKeys:
        """Two verifier keys, the event key's name being the log key's followed by ``/events``."""
        keys = [VerifierKey.parse(text) for text in texts]
        events = [k for k in keys if k.name.endswith(EVENTS_SUFFIX)]
        logs = [k for k in keys if not k.name.endswith(EVENTS_SUFFIX)]
        if len(events) != 1 or len(logs) != 1:
            raise SigningKeyError(
                f"give two verifier keys: the log's (<origin>+...) and the events' (<origin>{EVENTS_SUFFIX}+...)"
            )
        return cls(log=logs[0], events=events[0])

    def event_problem(self, payload: bytes, signature: bytes | None) -> str | None:
        """Why an event's signature header does not prove the referral service stored these bytes, or None."""
        if not signature:
            return "the event is not signed"
        if len(signature) != SIGNATURE_SIZE:
            return f"the event signature has {len(signature)} bytes, not {SIGNATURE_SIZE}"
        if signature[:4] != self.events_key_hash:
            return "the event is signed by an unknown key"
        try:
            self._event_key.verify(payload, signature[4:])
        except BadSignatureError:
            return "the event signature does not match its bytes"
        return None


@dataclass(frozen=True)
class SigningKeys:
    """The referral service's private keys, named after the log's origin."""

    origin: str
    log: Ed25519PrivateKey
    events: Ed25519PrivateKey
    public: PublicKeys = field(init=False, repr=False, compare=False)  # made once: every event is signed
    _event_signer: SigningKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        public = PublicKeys(
            log=VerifierKey(self.origin, public_bytes(self.log)),
            events=VerifierKey(self.origin + EVENTS_SUFFIX, public_bytes(self.events)),
        )
        object.__setattr__(self, "public", public)
        seed = self.events.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        object.__setattr__(self, "_event_signer", SigningKey(seed))

    def __repr__(self) -> str:
        return f"SigningKeys(origin={self.origin!r})"

    def sign_event(self, payload: bytes) -> bytes:
        return self.public.events_key_hash + self._event_signer.sign(payload).signature

    @classmethod
    def from_secret(cls, secret: bytes, origin: str) -> SigningKeys:
        if len(secret) != SECRET_SIZE:
            raise SigningKeyError(f"the signing key must be {SECRET_SIZE} bytes (base64)")

        def derive(label: bytes) -> Ed25519PrivateKey:
            seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret)
            return Ed25519PrivateKey.from_private_bytes(seed)

        return cls(origin, derive(LOG_LABEL), derive(EVENTS_LABEL))

    @classmethod
    def generate(cls, origin: str) -> SigningKeys:
        return cls.from_secret(secrets.token_bytes(SECRET_SIZE), origin)

    @classmethod
    def parse(cls, text: str, origin: str) -> SigningKeys:
        try:
            secret = base64.b64decode(text.strip(), validate=True)
        except (ValueError, binascii.Error) as exc:
            raise SigningKeyError("the signing key is not base64") from exc
        return cls.from_secret(secret, origin)

    @classmethod
    def read(cls, path: Path, origin: str) -> SigningKeys:
        try:
            return cls.parse(path.read_text(), origin)
        except FileNotFoundError as exc:
            raise SigningKeyError(f"the signing key file {path} is missing; restore it from the backup") from exc
        except OSError as exc:
            raise SigningKeyError(f"the signing key file {path} cannot be read ({exc.strerror})") from exc

    @classmethod
    def create(cls, path: Path, origin: str) -> SigningKeys:
        """A new secret in ``path``, readable by the owner only; never overwrites a key file."""
        secret = secrets.token_bytes(SECRET_SIZE)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as exc:
            raise SigningKeyError(f"the signing key file {path} exists already") from exc
        with os.fdopen(descriptor, "w") as handle:
            handle.write(base64.b64encode(secret).decode() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return cls.from_secret(secret, origin)
