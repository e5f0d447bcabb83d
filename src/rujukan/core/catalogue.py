"""The schema catalogue: every version of every event schema in schemas/, parsed once.

Layout of schemas/: ``<topic-family>/<RecordName>.v<N>.avsc``, every file a complete, self-contained
record schema. Files are append-only: a new version is a new file, old versions stay forever so that
old events keep decoding. The catalogue maps the CRC-64-AVRO fingerprint of each schema's Parsing
Canonical Form to the schema, and knows the latest version of each record (the reader schema).

Invariants: fingerprints are unique across the catalogue; versions of one record are numbered 1..N
without gaps; a file's record name matches its file name.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint as avro_fingerprint
from fastavro.schema import to_parsing_canonical_form

from rujukan.core.errors import SchemaError

_FILE_NAME = re.compile(r"^(?P<name>[A-Z][A-Za-z0-9]*)\.v(?P<version>[1-9][0-9]*)\.avsc$")


@dataclass(frozen=True, slots=True, eq=False)
class EventSchema:
    """One version of one event schema."""

    name: str  # short record name, equal to the event_type
    version: int
    path: Path
    raw: Mapping[str, Any]  # the JSON as written in the file
    parsed: Any  # fastavro's parsed schema, ready for the writer/reader
    canonical_form: str
    fingerprint: bytes  # 8 bytes, little-endian CRC-64-AVRO, as on the wire

    @property
    def full_name(self) -> str:
        return f"{self.raw.get('namespace', '')}.{self.name}".lstrip(".")


def default_schemas_dir() -> Path:
    """schemas/ of this installation: packaged in a wheel, or the checkout's own in development."""
    override = os.environ.get("RUJUKAN_SCHEMAS_DIR")
    if override:
        return Path(override)
    packaged = Path(__file__).with_name("schemas")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "schemas"


class SchemaCatalogue:
    """All event schemas by fingerprint and by name. Build once, share everywhere (immutable)."""

    def __init__(self, schemas: list[EventSchema]) -> None:
        self._by_fingerprint: dict[bytes, EventSchema] = {}
        self._versions: dict[str, list[EventSchema]] = {}
        for schema in sorted(schemas, key=lambda s: (s.name, s.version)):
            clash = self._by_fingerprint.get(schema.fingerprint)
            if clash is not None:
                raise SchemaError(f"{schema.path.name} has the same canonical form as {clash.path.name}")
            self._by_fingerprint[schema.fingerprint] = schema
            self._versions.setdefault(schema.name, []).append(schema)
        for name, versions in self._versions.items():
            numbers = [s.version for s in versions]
            if numbers != list(range(1, len(numbers) + 1)):
                raise SchemaError(f"versions of {name} must be 1..N without gaps, found {numbers}")

    @classmethod
    def from_directory(cls, directory: Path) -> SchemaCatalogue:
        if not directory.is_dir():
            raise SchemaError(f"schema directory {directory} does not exist")
        files = sorted(directory.rglob("*.avsc"))
        if not files:
            raise SchemaError(f"no .avsc files under {directory}")
        return cls([load_schema_file(path) for path in files])

    def by_fingerprint(self, fingerprint: bytes) -> EventSchema | None:
        return self._by_fingerprint.get(fingerprint)

    def latest(self, name: str) -> EventSchema | None:
        versions = self._versions.get(name)
        return versions[-1] if versions else None

    def versions(self, name: str) -> list[EventSchema]:
        return list(self._versions.get(name, ()))

    def names(self) -> list[str]:
        return sorted(self._versions)

    def __iter__(self) -> Iterator[EventSchema]:
        for name in self.names():
            yield from self._versions[name]

    def __len__(self) -> int:
        return len(self._by_fingerprint)


def load_schema_file(path: Path) -> EventSchema:
    """Parse one ``Name.vN.avsc`` file; every problem becomes a SchemaError naming the file."""
    match = _FILE_NAME.match(path.name)
    if match is None:
        raise SchemaError(f"{path.name}: schema files are named <RecordName>.v<N>.avsc")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        parsed = fastavro.parse_schema(raw)
        canonical = to_parsing_canonical_form(raw)
    except (OSError, ValueError, fastavro.schema.SchemaParseException) as exc:
        raise SchemaError(f"{path.name}: not a valid Avro schema ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("type") != "record" or raw.get("name") != match["name"]:
        raise SchemaError(f"{path.name}: must hold a record named {match['name']}")
    return EventSchema(
        name=match["name"],
        version=int(match["version"]),
        path=path,
        raw=raw,
        parsed=parsed,
        canonical_form=canonical,
        fingerprint=bytes.fromhex(avro_fingerprint(canonical, "CRC-64-AVRO")),
    )


@cache
def default_catalogue() -> SchemaCatalogue:
    """The catalogue of this installation's schemas/, built once per process."""
    return SchemaCatalogue.from_directory(default_schemas_dir())
