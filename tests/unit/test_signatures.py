"""The referral service's signing keys: one secret, two Ed25519 keys, and what an event's signature proves."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from rujukan.core import tlog
from rujukan.core.signatures import PublicKeys, SigningKeyError, SigningKeys, VerifierKey
from rujukan.referral.settings import ReferralSettings

ORIGIN = "rujukan.test/log"
SECRET = bytes(range(32))


def test_both_keys_derive_from_one_secret_and_differ() -> None:
    keys = SigningKeys.from_secret(SECRET, ORIGIN)
    again = SigningKeys.parse(base64.b64encode(SECRET).decode() + "\n", ORIGIN)
    assert keys.public == again.public
    assert keys.public.log.public != keys.public.events.public
    assert keys.public.log.name == ORIGIN
    assert keys.public.events.name == ORIGIN + "/events"
    assert SECRET.hex() not in repr(keys)


def test_a_verifier_key_is_a_note_verifier_key_and_parses_back() -> None:
    public = SigningKeys.from_secret(SECRET, ORIGIN).public
    name, key_hash, raw = tlog.parse_verifier_key(public.log.text)
    assert (name, key_hash, raw) == (ORIGIN, public.log.hash, public.log.public)
    assert public.log.text.startswith(f"{ORIGIN}+{public.log.hash.hex()}+")
    assert PublicKeys.parse([public.events.text, public.log.text]) == public
    with pytest.raises(SigningKeyError, match="give two verifier keys"):
        PublicKeys.parse([public.log.text])
    assert VerifierKey.parse(public.events.text) == public.events


def test_what_an_event_signature_proves() -> None:
    keys = SigningKeys.from_secret(SECRET, ORIGIN)
    other = SigningKeys.generate(ORIGIN)
    payload = b"\xc3\x01 an event"
    signature = keys.sign_event(payload)
    assert len(signature) == 68
    assert keys.public.event_problem(payload, signature) is None
    assert keys.public.event_problem(payload + b"!", signature) == "the event signature does not match its bytes"
    assert keys.public.event_problem(payload, None) == "the event is not signed"
    assert keys.public.event_problem(payload, b"") == "the event is not signed"
    assert keys.public.event_problem(payload, signature[:40]) == "the event signature has 40 bytes, not 68"
    assert keys.public.event_problem(payload, other.sign_event(payload)) == "the event is signed by an unknown key"
    flipped = signature[:10] + bytes([signature[10] ^ 1]) + signature[11:]
    assert keys.public.event_problem(payload, flipped) == "the event signature does not match its bytes"


def test_a_bad_secret_is_a_clear_error() -> None:
    with pytest.raises(SigningKeyError, match="not base64"):
        SigningKeys.parse("not base64!", ORIGIN)
    with pytest.raises(SigningKeyError, match="must be 32 bytes"):
        SigningKeys.parse(base64.b64encode(b"short").decode(), ORIGIN)


def test_the_key_file_is_made_once_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    settings = ReferralSettings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    with pytest.raises(SigningKeyError, match="is missing"):
        settings.load_signing_keys(create=False)
    made = settings.load_signing_keys()
    path = tmp_path / "signing.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert settings.load_signing_keys().public == made.public
    with pytest.raises(SigningKeyError, match="exists already"):
        SigningKeys.create(path, ORIGIN)
    configured = ReferralSettings(_env_file=None, data_dir=tmp_path, signing_key_file=tmp_path / "elsewhere.key")  # type: ignore[call-arg]
    with pytest.raises(SigningKeyError, match=r"elsewhere\.key is missing"):
        configured.load_signing_keys()
