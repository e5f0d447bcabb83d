"""The schema catalogue built from schemas/: complete, consistent, and strict about bad files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rujukan.core.catalogue import SchemaCatalogue, default_catalogue, default_schemas_dir
from rujukan.core.errors import SchemaError
from rujukan.core.lifecycle import CHAIN_EVENTS
from tests.factories import EVENT_TYPES

LIFECYCLE_EVENTS = {
    "ReferralCreated",
    "ReferralSent",
    "FollowUpRecorded",
    "ReferralAcknowledged",
    "ReferralAccepted",
    "ReferralRejected",
    "ReferralStarted",
    "ReferralPutOnHold",
    "ReferralCompleted",
    "ReferralFailed",
    "ReferralCancelled",
    "ReferralForwarded",
    "ReferralNoteAdded",
    "SubjectErased",
    "SlaBreached",
    "SubjectAccessed",
    "SubjectCorrected",
    "ConsentWithdrawn",
    "SubjectRestricted",
    "SubjectRestrictionLifted",
}
AUDIT_EVENTS = {"SealedDataDisclosed"}  # the audit topic's own record: about an export, not a referral
DIRECTORY_EVENTS = {"DirectoryServiceUpdated", "DirectoryCapacityUpdated"}  # the directory topic's: no person
COMMON_FIELDS = ["event_id", "event_type", "occurred_at", "referral_id", "case_id", "seq", "prev_hash", "actor_agency"]


def test_catalogue_has_one_record_per_lifecycle_event_and_the_audit_and_directory_records() -> None:
    assert set(default_catalogue().names()) == LIFECYCLE_EVENTS | AUDIT_EVENTS | DIRECTORY_EVENTS
    assert set(EVENT_TYPES) == LIFECYCLE_EVENTS


@pytest.mark.parametrize("name", sorted(LIFECYCLE_EVENTS))
def test_every_event_starts_with_the_common_fields(name: str) -> None:
    schema = default_catalogue().latest(name)
    assert schema is not None
    fields = [field["name"] for field in schema.raw["fields"]]
    assert fields[: len(COMMON_FIELDS)] == COMMON_FIELDS
    assert schema.raw["namespace"].startswith("id.rujukan")


def test_sealed_fields_are_bytes_and_no_clear_identity_field_exists() -> None:
    identifying = {"full_name", "nik", "birth_date", "phone", "address", "reason", "note", "name"}
    for schema in default_catalogue():
        for field in schema.raw["fields"]:
            assert field["name"] not in identifying, f"{schema.name}.{field['name']} would carry clear data"
            if field["name"].startswith("sealed_"):
                assert field["type"] in ("bytes", ["null", "bytes"]), f"{schema.name}.{field['name']}"


def test_fingerprints_are_unique_and_eight_bytes() -> None:
    catalogue = default_catalogue()
    fingerprints = [schema.fingerprint for schema in catalogue]
    assert len(set(fingerprints)) == len(fingerprints) == len(catalogue)
    assert all(len(fp) == 8 for fp in fingerprints)
    for schema in catalogue:
        assert catalogue.by_fingerprint(schema.fingerprint) is schema


def _copy_schemas(tmp_path: Path) -> Path:
    target = tmp_path / "schemas"
    shutil.copytree(default_schemas_dir(), target)
    return target


def test_a_badly_named_file_is_refused(tmp_path: Path) -> None:
    directory = _copy_schemas(tmp_path)
    (directory / "referral" / "ReferralAccepted.v1.avsc").rename(directory / "referral" / "accepted.avsc")
    with pytest.raises(SchemaError, match=r"accepted\.avsc"):
        SchemaCatalogue.from_directory(directory)


def test_a_version_gap_is_refused(tmp_path: Path) -> None:
    directory = _copy_schemas(tmp_path)
    source = directory / "referral" / "ReferralAccepted.v1.avsc"
    source.rename(directory / "referral" / "ReferralAccepted.v2.avsc")
    with pytest.raises(SchemaError, match=r"ReferralAccepted must be 1\.\.N"):
        SchemaCatalogue.from_directory(directory)


def test_invalid_json_is_refused_with_the_file_name(tmp_path: Path) -> None:
    directory = _copy_schemas(tmp_path)
    (directory / "referral" / "ReferralAccepted.v2.avsc").write_text("{not json")
    with pytest.raises(SchemaError, match=r"ReferralAccepted\.v2\.avsc: not a valid Avro schema"):
        SchemaCatalogue.from_directory(directory)


def test_record_name_must_match_file_name(tmp_path: Path) -> None:
    directory = _copy_schemas(tmp_path)
    raw = json.loads((directory / "referral" / "ReferralAccepted.v1.avsc").read_text())
    raw["name"] = "SomethingElse"
    (directory / "referral" / "ReferralAccepted.v2.avsc").write_text(json.dumps(raw))
    with pytest.raises(SchemaError, match="must hold a record named ReferralAccepted"):
        SchemaCatalogue.from_directory(directory)


def test_the_chain_events_are_exactly_the_referral_schemas() -> None:
    referral_schemas = {path.name.split(".")[0] for path in (default_schemas_dir() / "referral").glob("*.avsc")}
    assert referral_schemas == CHAIN_EVENTS
