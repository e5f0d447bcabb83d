"""decode_plain reads what decode reads, no more and no less: the same values (UUIDs as their canonical text,
instants as microseconds, days as days since the epoch), and an error exactly where decode has one."""

from __future__ import annotations

import datetime as dt
import uuid
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from fastavro import schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rujukan.core.avro_plain import EPOCH, micros_to_datetime, plain_reader
from rujukan.core.codec import HEADER_SIZE, EventCodec
from rujukan.core.errors import CodecError, CorruptEvent, SchemaError
from tests.factories import sample_event
from tests.unit.test_codec_corrupt import CORRUPT_INPUTS

CODEC = EventCodec()
GOLDEN = sorted((Path(__file__).parent.parent / "golden").glob("*.hex"))


def plain_of(value: Any) -> Any:
    """A logical value as decode_plain holds it."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return (value - EPOCH) // dt.timedelta(microseconds=1)
    if isinstance(value, dt.date):
        return (value - dt.date(1970, 1, 1)).days
    if isinstance(value, dict):
        return {k: plain_of(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_of(v) for v in value]
    return value


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda p: p.stem)
def test_every_version_reads_plain_as_its_logical_values(golden: Path) -> None:
    data = bytes.fromhex(golden.read_text().strip())
    plain, logical = CODEC.decode_plain(data), CODEC.decode(data)
    assert plain.writer == logical.writer
    assert plain.event_type == logical.event_type
    assert set(plain.record) == {f["name"] for f in plain.writer.raw["fields"]}  # the writer's own fields
    assert plain.record == {name: plain_of(logical.record[name]) for name in plain.record}
    assert any(isinstance(v, uuid.UUID) for v in logical.record.values())  # the comparison compared something


def test_the_samples_carry_every_logical_type() -> None:
    """The comparison above meets a uuid, a timestamp and a date (else it proves less than it says)."""
    created = CODEC.decode(CODEC.encode(sample_event("ReferralCreated"))).record
    kinds = {type(v) for v in created.values()} | {type(v) for v in created["consent"].values()}
    assert {uuid.UUID, dt.datetime} <= kinds
    assert isinstance(created["pathway_anchor_date"], dt.date)


@pytest.mark.parametrize("name", sorted(CORRUPT_INPUTS))
def test_corrupt_input_fails_plain_as_it_fails_logical(name: str) -> None:
    logical = _error_of(CODEC.decode, CORRUPT_INPUTS[name])
    assert logical is not None
    with pytest.raises(type(logical)):
        CODEC.decode_plain(CORRUPT_INPUTS[name])


def _error_of(decode: Any, data: bytes | None) -> CodecError | None:
    try:
        decode(data)
    except CodecError as exc:
        return exc
    return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    golden=st.sampled_from(GOLDEN),
    at=st.integers(min_value=HEADER_SIZE, max_value=10_000),
    byte=st.integers(min_value=0, max_value=255),
)
def test_a_changed_byte_fails_plain_exactly_when_it_fails_logical(golden: Path, at: int, byte: int) -> None:
    changed = bytearray(bytes.fromhex(golden.read_text().strip()))
    changed[at % len(changed)] = byte
    data = bytes(changed)
    logical, plain = _error_of(CODEC.decode, data), _error_of(CODEC.decode_plain, data)
    assert (logical is None) == (plain is None), (logical, plain)
    if logical is None:
        record = CODEC.decode_plain(data).record
        assert record == {k: plain_of(v) for k, v in CODEC.decode(data).record.items() if k in record}


def written_plain(event_type: str, **changes: Any) -> bytes:
    """The sample of ``event_type`` with some values written as their Avro types, past any logical check."""
    schema = CODEC.catalogue.latest(event_type)
    assert schema is not None
    record = {**CODEC.decode_plain(CODEC.encode(sample_event(event_type))).record, **changes}
    buffer = BytesIO()
    buffer.write(CODEC.encode(sample_event(event_type))[:HEADER_SIZE])
    schemaless_writer(buffer, plain_reader(schema.raw)[0], record)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "changes",
    [
        {"referral_id": "not a uuid"},
        {"parent_referral_id": "1234"},
        {"parallel_referral_ids": [str(uuid.uuid4()), "zz"]},
        {"occurred_at": 2**62},
        {"consent": {"basis": "x", "recorded_at": -(2**62)}},
        {"pathway_anchor_date": 10**7},
    ],
    ids=lambda c: next(iter(c)),
)
def test_a_value_outside_its_logical_type_fails_both(changes: dict[str, Any]) -> None:
    sample = CODEC.decode_plain(CODEC.encode(sample_event("ReferralCreated"))).record
    if "consent" in changes:
        changes = {"consent": {**sample["consent"], "recorded_at": changes["consent"]["recorded_at"]}}
    data = written_plain("ReferralCreated", **changes)
    with pytest.raises(CorruptEvent):
        CODEC.decode(data)
    with pytest.raises(CorruptEvent, match=r"ReferralCreated v\d+: a field does not hold its logical type"):
        CODEC.decode_plain(data)


def test_a_uuid_in_another_spelling_reads_as_its_canonical_text() -> None:
    referral = uuid.uuid4()
    data = written_plain("ReferralAccepted", referral_id="{" + str(referral).upper() + "}")
    assert CODEC.decode(data).record["referral_id"] == referral
    assert CODEC.decode_plain(data).record["referral_id"] == str(referral)


def test_a_plain_instant_turns_into_the_logical_one() -> None:
    record = CODEC.decode(CODEC.encode(sample_event("ReferralAccepted"))).record
    plain = CODEC.decode_plain(CODEC.encode(sample_event("ReferralAccepted"))).record
    assert micros_to_datetime(plain["occurred_at"]) == record["occurred_at"]


@pytest.mark.parametrize(
    ("field_type", "problem"),
    [
        ({"type": "long", "logicalType": "timestamp-millis"}, "logical type timestamp-millis"),
        (["null", "string", {"type": "string", "logicalType": "uuid"}], "a union of several types"),
        ("Later", "named type Later is used before it is defined"),
    ],
)
def test_a_shape_it_cannot_read_plain_is_refused_when_the_schema_is_read(field_type: Any, problem: str) -> None:
    schema = {"type": "record", "name": "Odd", "fields": [{"name": "x", "type": field_type}]}
    with pytest.raises(SchemaError, match=problem):
        plain_reader(schema)
