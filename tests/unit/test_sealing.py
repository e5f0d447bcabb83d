"""Sealing: values open only with the right key and context; wrapped keys bind to their subject."""

from __future__ import annotations

import base64
import hashlib
import hmac
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rujukan.core.keyring import Keyring, KeyringError
from rujukan.core.sealing import MasterKey, SealingError, wrapped_key_id

MASTER = MasterKey(bytes(range(32)))
CONTEXT = {"subject_id": "sub_1", "referral_id": "ref_1", "field": "subject"}


def test_a_sealed_value_opens_with_its_key_and_context() -> None:
    key = MASTER.unwrap(MASTER.new_wrapped_data_key("sub_1"), "sub_1")
    sealed = key.seal(b"Siti Aminah", **CONTEXT)
    assert b"Siti" not in sealed
    assert key.open(sealed, **CONTEXT) == b"Siti Aminah"


def test_sealing_twice_gives_different_bytes() -> None:
    key = MASTER.unwrap(MASTER.new_wrapped_data_key("sub_1"), "sub_1")
    assert key.seal(b"x", **CONTEXT) != key.seal(b"x", **CONTEXT)


@pytest.mark.parametrize("change", [{"subject_id": "sub_2"}, {"referral_id": "ref_2"}, {"field": "reason"}])
def test_a_sealed_value_does_not_open_in_another_context(change: dict[str, str]) -> None:
    key = MASTER.unwrap(MASTER.new_wrapped_data_key("sub_1"), "sub_1")
    sealed = key.seal(b"secret", **CONTEXT)
    with pytest.raises(SealingError):
        key.open(sealed, **{**CONTEXT, **change})


def test_another_subjects_key_does_not_open_it() -> None:
    mine = MASTER.unwrap(MASTER.new_wrapped_data_key("sub_1"), "sub_1")
    other = MASTER.unwrap(MASTER.new_wrapped_data_key("sub_1"), "sub_1")
    with pytest.raises(SealingError):
        other.open(mine.seal(b"secret", **CONTEXT), **CONTEXT)


def test_a_wrapped_key_is_bound_to_its_subject_and_master_key() -> None:
    wrapped = MASTER.new_wrapped_data_key("sub_1")
    with pytest.raises(SealingError):
        MASTER.unwrap(wrapped, "sub_2")
    with pytest.raises(SealingError):
        MasterKey(bytes(32)).unwrap(wrapped, "sub_1")


@pytest.mark.parametrize("garbage", [b"", b"\x01", b"\x02" + bytes(40), b"\x01" + bytes(40)])
def test_garbage_raises_sealing_error(garbage: bytes) -> None:
    with pytest.raises(SealingError):
        MASTER.unwrap(garbage, "sub_1")


def test_nik_index_is_stable_keyed_and_not_the_nik() -> None:
    nik = "3175014501900001"
    assert MASTER.nik_index(nik) == MASTER.nik_index(f" {nik} ")
    assert MASTER.nik_index(nik) != MasterKey(bytes(32)).nik_index(nik)
    assert nik not in MASTER.nik_index(nik)


def test_master_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "data" / "master.key"
    first = MasterKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    wrapped = first.new_wrapped_data_key("sub_1")
    MasterKey.load_or_create(path).unwrap(wrapped, "sub_1")  # same key on the next start


def test_keys_never_show_in_repr() -> None:
    key = bytes(range(32))
    assert base64.b64encode(key).decode() not in repr(MasterKey(key))
    assert "secret" in repr(MASTER.unwrap(MASTER.new_wrapped_data_key("s"), "s"))


def test_bad_master_keys_are_refused_without_echoing_them() -> None:
    with pytest.raises(SealingError, match="32 bytes"):
        MasterKey(b"short")
    with pytest.raises(SealingError) as info:
        MasterKey.from_base64("not base64 at all!")
    assert "not base64 at all" not in str(info.value)


def test_request_fingerprints_are_keyed_and_separate_from_the_nik_index() -> None:
    body = b'{"nik": "3175014501900001"}'
    assert MASTER.fingerprint(body) == MASTER.fingerprint(body)
    assert MASTER.fingerprint(body) != MasterKey(bytes(32)).fingerprint(body)
    assert MASTER.fingerprint(b"3175014501900001") != MASTER.nik_index("3175014501900001")


def test_a_legacy_key_derives_the_purpose_keys_as_before_key_ids() -> None:
    """Subjects, NIK indexes and fingerprints made before key ids stay valid: the one-line key file keeps
    its labelled HMAC derivations."""
    key = bytes(range(32))
    index_key = hmac.new(key, b"rujukan nik index v1", hashlib.sha256).digest()
    assert (
        MasterKey(key).nik_index("3175010101900001")
        == hmac.new(index_key, b"3175010101900001", hashlib.sha256).hexdigest()
    )
    old_envelope = b"\x01" + bytes(12)
    old_envelope += AESGCM(key).encrypt(bytes(12), bytes(32), b"sub_1")  # as wrapped before key ids
    assert MasterKey(key).unwrap_bytes(old_envelope, "sub_1") == bytes(32)


def test_wrapped_keys_name_their_key_and_a_retired_key_opens_nothing() -> None:
    ring = Keyring.generate()
    master = MasterKey(ring)
    wrapped = master.new_wrapped_data_key("sub_1")
    assert wrapped_key_id(wrapped) == ring.active
    rotated = ring.rotated()
    rewrapped = master.wrap(master.unwrap_bytes(wrapped, "sub_1"), "sub_1", keyring=rotated)
    assert wrapped_key_id(rewrapped) == rotated.active != ring.active
    retired = MasterKey(rotated.retired())
    assert retired.unwrap_bytes(rewrapped, "sub_1") == master.unwrap_bytes(wrapped, "sub_1")
    with pytest.raises(SealingError, match="does not hold"):
        retired.unwrap(wrapped, "sub_1")
    assert retired.nik_index("1") == master.nik_index("1")  # lookups survive a rotation


def test_a_keyring_file_round_trips_and_refuses_what_is_not_one(tmp_path: Path) -> None:
    ring = Keyring.generate().rotated()
    path = tmp_path / "keys.json"
    ring.write(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Keyring.read(path) == ring
    path.write_text('{"format": "something else"}')
    with pytest.raises(KeyringError, match="not a rujukan-keyring"):
        Keyring.read(path)
    with pytest.raises(KeyringError, match="is missing"):
        Keyring.read(tmp_path / "nowhere.key")
    assert "wrapping" not in repr(ring)
    assert base64.b64encode(ring.wrapping[ring.active]).decode() not in repr(ring)
