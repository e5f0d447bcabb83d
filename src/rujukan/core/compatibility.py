"""FULL_TRANSITIVE compatibility of the schemas in schemas/.

For every record, every version must read data written with every other version, in both directions
(new readers read old data, old readers read new data). The pairwise check is the Apache Avro reference
implementation's (``avro.compatibility``, a port of Java's SchemaCompatibility); this module only walks
the version pairs and words the findings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise, permutations
from typing import Any

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from rujukan.core.catalogue import EventSchema, SchemaCatalogue


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """One reader/writer pair that cannot resolve."""

    name: str
    reader_version: int
    writer_version: int
    kinds: tuple[str, ...]
    locations: tuple[str, ...]
    messages: tuple[str, ...]

    def __str__(self) -> str:
        detail = f" ({'; '.join(self.messages)})" if self.messages else ""
        return (
            f"{self.name}: v{self.reader_version} cannot read data written with "
            f"v{self.writer_version}: {', '.join(self.kinds)} at {', '.join(self.locations)}{detail}"
        )


def check_full_transitive(catalogue: SchemaCatalogue) -> list[Incompatibility]:
    """Every incompatible (reader, writer) version pair in the catalogue; empty when compatible."""
    problems: list[Incompatibility] = []
    for name in catalogue.names():
        versions = catalogue.versions(name)
        parsed = {s.version: _apache_schema(s) for s in versions}
        for reader, writer in permutations(versions, 2):
            problems.extend(_check_pair(name, reader, writer, parsed))
    return problems


def _check_pair(
    name: str, reader: EventSchema, writer: EventSchema, parsed: dict[int, avro.schema.Schema]
) -> Iterator[Incompatibility]:
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(parsed[reader.version], parsed[writer.version])
    if result.compatibility is SchemaCompatibilityType.compatible:
        return
    yield Incompatibility(
        name=name,
        reader_version=reader.version,
        writer_version=writer.version,
        kinds=tuple(kind.value for kind in result.incompatibilities),
        locations=tuple(sorted(_describe(reader.raw, loc) for loc in result.locations if loc != "/")),
        messages=tuple(sorted(result.messages)),
    )


def _describe(raw: Any, location: str) -> str:
    """``/fields/5/type`` becomes ``/fields/5/type (field seq)``: name the fields along the path."""
    names: list[str] = []
    node = raw
    parts = [part for part in location.split("/") if part]
    for key, index in pairwise(parts):
        if key == "fields" and index.isdigit() and isinstance(node, dict):
            fields = node.get("fields", [])
            if int(index) >= len(fields):
                break
            field = fields[int(index)]
            names.append(field["name"])
            node = field["type"]
    return f"{location} (field {'.'.join(names)})" if names else location


def _apache_schema(schema: EventSchema) -> avro.schema.Schema:
    return avro.schema.parse(json.dumps(schema.raw))
