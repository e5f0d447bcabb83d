"""Interoperability with the Apache Avro reference implementation (PyPI ``avro``).

Apache avro 1.12 (Python) writes a primitive that carries a logicalType as ``{"type":"string"}`` in its
canonical form, where the specification's [PRIMITIVES] and [STRIP] rules give ``"string"`` (the same
defect as AVRO-4004 in the Rust binding). Rujukan follows the specification. These tests show that the
reference implementation agrees with us on the specification's canonical form and fingerprint, that its
own canonical form differs from ours by exactly that rule, and that it decodes our bodies to our records.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import avro.io
import avro.schema
import pytest

from rujukan.core.catalogue import default_catalogue
from rujukan.core.codec import HEADER_SIZE, MAGIC, EventCodec
from tests.factories import EVENT_TYPES, sample_event

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def _simplify_primitives(node: Any) -> Any:
    """Apply the specification's [PRIMITIVES] rule: {"type": "int"} becomes "int"."""
    if isinstance(node, dict):
        if set(node) == {"type"} and node["type"] in PRIMITIVES:
            return node["type"]
        return {key: _simplify_primitives(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_simplify_primitives(item) for item in node]
    return node


def _normalise(value: Any) -> Any:
    """Apache avro returns uuid logical types as str; fastavro as uuid.UUID."""
    if isinstance(value, dict):
        return {key: _normalise(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_reference_fingerprint_of_the_canonical_form_equals_ours(event_type: str) -> None:
    ours = default_catalogue().latest(event_type)
    assert ours is not None
    reference = avro.schema.parse(ours.canonical_form)
    assert reference.canonical_form == ours.canonical_form
    assert reference.fingerprint("CRC-64-AVRO") == ours.fingerprint


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_reference_canonical_form_differs_only_by_the_primitives_rule(event_type: str) -> None:
    ours = default_catalogue().latest(event_type)
    assert ours is not None
    reference = avro.schema.parse(json.dumps(ours.raw)).canonical_form
    simplified = json.dumps(_simplify_primitives(json.loads(reference)), separators=(",", ":"))
    assert simplified == ours.canonical_form


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_reference_implementation_decodes_our_body_to_the_same_record(event_type: str) -> None:
    ours = default_catalogue().latest(event_type)
    assert ours is not None
    encoded = EventCodec().encode(sample_event(event_type))
    assert encoded[:HEADER_SIZE] == MAGIC + ours.fingerprint
    reader = avro.io.DatumReader(avro.schema.parse(json.dumps(ours.raw)))
    record = reader.read(avro.io.BinaryDecoder(io.BytesIO(encoded[HEADER_SIZE:])))
    assert record == _normalise(sample_event(event_type))
