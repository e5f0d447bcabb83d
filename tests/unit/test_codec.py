"""Encoding and decoding: golden bytes per event type, round trips, and schema resolution."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from rujukan.core.catalogue import EventSchema, SchemaCatalogue, default_catalogue, default_schemas_dir
from rujukan.core.codec import HEADER_SIZE, MAGIC, EventCodec, event_hash
from rujukan.core.errors import EncodeError
from tests.factories import EVENT_TYPES, sample_event
from tests.write_golden import missing_golden_files

GOLDEN = Path(__file__).parent.parent / "golden"


@pytest.fixture(scope="module")
def codec() -> EventCodec:
    return EventCodec()


def latest_version(event_type: str) -> int:
    schema = EventCodec().catalogue.latest(event_type)
    assert schema is not None
    return schema.version


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_encoding_matches_the_golden_bytes(codec: EventCodec, event_type: str) -> None:
    """The sample encodes (with the latest version) to the golden bytes of that version."""
    encoded = codec.encode(sample_event(event_type))
    golden = GOLDEN / f"{event_type}.v{latest_version(event_type)}.hex"
    assert encoded.hex() == golden.read_text().strip(), f"{event_type} wire bytes changed"


GOLDEN_FILES = sorted(GOLDEN.glob("*.hex"))


@pytest.mark.parametrize("golden", GOLDEN_FILES, ids=lambda p: p.stem)
def test_golden_bytes_of_every_version_decode_to_the_sample(codec: EventCodec, golden: Path) -> None:
    """Bytes written by every version, old ones too, read back as the latest version of the sample; a field
    added after the writer's version reads as its default."""
    event_type, version = golden.stem.rsplit(".v", 1)
    decoded = codec.decode(bytes.fromhex(golden.read_text()))
    assert (decoded.event_type, decoded.writer.version) == (event_type, int(version))
    assert decoded.record == {**sample_event(event_type), **added_after(decoded.writer, codec)}


def added_after(writer: EventSchema, codec: EventCodec) -> dict[str, Any]:
    """The fields of the latest version that ``writer`` lacks, with their defaults."""
    latest = codec.catalogue.latest(writer.name)
    assert latest is not None
    known = {field["name"] for field in writer.raw["fields"]}
    return {field["name"]: field["default"] for field in latest.raw["fields"] if field["name"] not in known}


def test_a_v1_referral_created_reads_without_due_times(codec: EventCodec) -> None:
    """ReferralCreated v1 carried no SLA due times: they read as null (the tracker then uses its policy)."""
    decoded = codec.decode(bytes.fromhex((GOLDEN / "ReferralCreated.v1.hex").read_text()))
    assert decoded.writer.version == 1
    assert (decoded.record["ack_due_at"], decoded.record["respond_due_at"]) == (None, None)


def test_every_event_type_has_golden_bytes_of_its_latest_version(codec: EventCodec) -> None:
    assert {f"{t}.v{latest_version(t)}" for t in EVENT_TYPES} <= {p.stem for p in GOLDEN_FILES}
    assert missing_golden_files(codec) == {}  # the writer would write nothing: it only adds new versions


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_header_is_magic_and_writer_fingerprint(codec: EventCodec, event_type: str) -> None:
    encoded = codec.encode(sample_event(event_type))
    schema = codec.catalogue.latest(event_type)
    assert schema is not None
    assert encoded[:2] == MAGIC
    assert encoded[2:HEADER_SIZE] == schema.fingerprint


def test_first_event_of_a_referral_has_no_prev_hash(codec: EventCodec) -> None:
    event = sample_event("ReferralCreated", seq=1)
    assert codec.decode(codec.encode(event)).record["prev_hash"] is None


def test_event_hash_is_sha256_of_the_encoded_bytes(codec: EventCodec) -> None:
    import hashlib

    encoded = codec.encode(sample_event("ReferralAccepted"))
    assert event_hash(encoded) == hashlib.sha256(encoded).digest()
    assert len(event_hash(encoded)) == 32


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"event_type": "NoSuchEvent"}, "no schema for event_type 'NoSuchEvent'"),
        ({"seq": "two"}, "ReferralRejected v2: record does not fit"),
        ({"reason_code": "not_a_reason"}, "ReferralRejected v2: record does not fit"),
        ({"prev_hash": b"short"}, "ReferralRejected v2: record does not fit"),
    ],
)
def test_a_record_that_does_not_fit_raises_encode_error(
    codec: EventCodec, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(EncodeError, match=message):
        codec.encode(sample_event("ReferralRejected", **change))


def test_a_missing_field_raises_encode_error(codec: EventCodec) -> None:
    event = sample_event("ReferralCompleted")
    del event["outcome"]
    with pytest.raises(EncodeError):
        codec.encode(event)


def _catalogue_with_next_version(tmp_path: Path) -> SchemaCatalogue:
    """A catalogue where ReferralAccepted has one version more, adding a field with a default."""
    directory = tmp_path / "schemas"
    shutil.copytree(default_schemas_dir(), directory)
    latest = default_catalogue().latest("ReferralAccepted")
    assert latest is not None
    raw = json.loads((directory / "referral" / latest.path.name).read_text())
    raw["fields"].append({"name": "expected_start", "type": ["null", "string"], "default": None})
    (directory / "referral" / f"ReferralAccepted.v{latest.version + 1}.avsc").write_text(json.dumps(raw))
    return SchemaCatalogue.from_directory(directory)


def test_old_data_is_resolved_to_the_new_reader_schema(codec: EventCodec, tmp_path: Path) -> None:
    old_bytes = codec.encode(sample_event("ReferralAccepted"))
    new_codec = EventCodec(_catalogue_with_next_version(tmp_path))
    decoded = new_codec.decode(old_bytes)
    assert decoded.writer.version == default_catalogue().latest("ReferralAccepted").version  # type: ignore[union-attr]
    assert decoded.record == {**sample_event("ReferralAccepted"), "expected_start": None}
