"""Corrupt input never escapes as anything but the codec's typed errors."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rujukan.core.catalogue import default_catalogue
from rujukan.core.codec import HEADER_SIZE, MAGIC, EventCodec
from rujukan.core.errors import CodecError, CorruptEvent, UnknownFingerprint, WrongMagic
from tests.factories import EVENT_TYPES, sample_event

CODEC = EventCodec()
CREATED = CODEC.encode(sample_event("ReferralCreated"))
REJECTED = CODEC.encode(sample_event("ReferralRejected"))
ACCEPTED_FP = default_catalogue().latest("ReferralAccepted").fingerprint  # type: ignore[union-attr]


def _enum_index_out_of_range() -> bytes:
    # Without a note or a staff id, ReferralRejected ends with reason_code (enum, zig-zag varint), then the
    # union indexes (0) of sealed_note and actor_staff.
    rejected = CODEC.encode(sample_event("ReferralRejected", sealed_note=None, actor_staff=None))
    assert rejected.endswith(b"\x00\x00")
    return rejected[:-3] + b"\x7e" + rejected[-2:]


CORRUPT_INPUTS = {
    "empty": b"",
    "none": None,
    "one byte": b"\xc3",
    "wrong magic": b"\xc3\x02" + CREATED[2:],
    "plain json": b'{"event_type": "ReferralCreated"}',
    "header only": CREATED[:HEADER_SIZE],
    "truncated header": CREATED[:6],
    "unknown fingerprint": MAGIC + b"\x00" * 8 + CREATED[HEADER_SIZE:],
    "truncated body": CREATED[:-7],
    "trailing bytes": CREATED + b"\x00\x01",
    "body of another type": CREATED[:HEADER_SIZE] + REJECTED[HEADER_SIZE:],
    "enum index out of range": _enum_index_out_of_range(),
    "accepted header on created body": MAGIC + ACCEPTED_FP + CREATED[HEADER_SIZE:],
    "negative string length": CREATED[:HEADER_SIZE] + b"\x03" + CREATED[HEADER_SIZE + 1 :],
    "huge string length": CREATED[:HEADER_SIZE] + b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f" + CREATED[HEADER_SIZE:],
}


@pytest.mark.parametrize("name", sorted(CORRUPT_INPUTS))
def test_each_kind_of_corrupt_input_raises_a_codec_error(name: str) -> None:
    with pytest.raises(CodecError):
        CODEC.decode(CORRUPT_INPUTS[name])


def test_the_error_class_names_the_problem() -> None:
    with pytest.raises(WrongMagic):
        CODEC.decode(CORRUPT_INPUTS["wrong magic"])
    with pytest.raises(UnknownFingerprint, match="0000000000000000"):
        CODEC.decode(CORRUPT_INPUTS["unknown fingerprint"])
    with pytest.raises(CorruptEvent, match="trailing bytes"):
        CODEC.decode(CORRUPT_INPUTS["trailing bytes"])
    with pytest.raises(CorruptEvent, match="ReferralCreated v5: body does not decode"):
        CODEC.decode(CORRUPT_INPUTS["truncated body"])


def test_error_messages_do_not_quote_the_payload() -> None:
    for data in CORRUPT_INPUTS.values():
        with pytest.raises(CodecError) as info:
            CODEC.decode(data)
        assert b"sealed" not in str(info.value).encode()
        assert "LAPAS" not in str(info.value)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes_raise_only_codec_errors(data: bytes) -> None:
    with pytest.raises(CodecError):
        CODEC.decode(data)


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(sorted(default_catalogue(), key=lambda s: s.name)), st.binary(max_size=512))
def test_random_bodies_behind_a_valid_header_raise_only_codec_errors(schema: object, body: bytes) -> None:
    data = MAGIC + schema.fingerprint + body  # type: ignore[attr-defined]
    with contextlib.suppress(CodecError):
        CODEC.decode(data)


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(EVENT_TYPES), st.data())
def test_mutated_events_decode_or_raise_only_codec_errors(event_type: str, data: st.DataObject) -> None:
    encoded = bytearray(CODEC.encode(sample_event(event_type)))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(encoded) - 1))
        encoded[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(encoded)))
    try:
        decoded = CODEC.decode(bytes(encoded[:cut]))
    except CodecError:
        return
    assert decoded.event_type in EVENT_TYPES
