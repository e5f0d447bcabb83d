"""Reading Avro with its logical types left as their Avro types, exactly as strict as the logical read.

fastavro turns a ``uuid`` into ``uuid.UUID``, a ``timestamp-micros`` into ``datetime`` and a ``date``
into ``date``; building those objects is most of the time a read takes. :func:`plain_reader` gives the
writer schema without its logical types and a function that checks each logical value of a record read
with it the way that conversion would (``uuid.UUID`` accepts the text; the instant or the day lies in the
range of ``datetime`` and ``date``), raising ``ValueError`` where the logical read would fail, and puts
a ``uuid`` in its canonical text (as ``str(uuid.UUID(text))``). Rujukan's schemas use only these three
logical types, in nullable unions, records and arrays; any other shape is a SchemaError when the
catalogue is read, not a silent difference.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from fastavro import parse_schema

from rujukan.core.errors import SchemaError

Normalise = Callable[[Any], Any]  # the value as the plain record holds it; ValueError where the logical read fails

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO = dt.timedelta(microseconds=1)
_EPOCH_DAY = dt.date(1970, 1, 1).toordinal()
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").fullmatch
_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_COMPLEX = frozenset({"record", "enum", "fixed", "array", "map"})


def micros_to_datetime(micros: int) -> dt.datetime:
    """A plain ``timestamp-micros`` as the logical read gives it."""
    return EPOCH + micros * _MICRO


def days_to_date(days: int) -> dt.date:
    """A plain ``date`` as the logical read gives it."""
    return dt.date.fromordinal(_EPOCH_DAY + days)


def _uuid(value: str) -> str:
    return value if _CANONICAL_UUID(value) else str(uuid.UUID(value))


def _within(low: int, high: int, what: str) -> Normalise:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"{what} out of range")
        return value

    return check


LOGICAL: dict[tuple[str, str], Normalise] = {
    ("string", "uuid"): _uuid,
    ("long", "timestamp-micros"): _within(
        (dt.datetime.min.replace(tzinfo=dt.UTC) - EPOCH) // _MICRO,
        (dt.datetime.max.replace(tzinfo=dt.UTC) - EPOCH) // _MICRO,
        "timestamp",
    ),
    ("int", "date"): _within(1 - _EPOCH_DAY, dt.date.max.toordinal() - _EPOCH_DAY, "date"),
}


def plain_reader(raw: Mapping[str, Any]) -> tuple[Any, Normalise]:
    """The parsed schema without logical types, and the normaliser of a record read with it."""
    stripped = copy.deepcopy(dict(raw))
    normalise = _Walk(str(raw.get("namespace", ""))).of(stripped)
    return parse_schema(_bare(stripped)), normalise or (lambda record: record)


def _bare(schema: Any) -> Any:
    """``{"type": "string"}`` as ``"string"``, everywhere (fastavro reads the bare name faster)."""
    if isinstance(schema, list):
        return [_bare(branch) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    if set(schema) == {"type"}:
        return _bare(schema["type"])
    found = dict(schema)
    if "fields" in found:
        found["fields"] = [{**f, "type": _bare(f["type"])} for f in found["fields"]]
    for key in ("type", "items", "values"):
        if key in found and not isinstance(found[key], str):
            found[key] = _bare(found[key])
    return found


class _Walk:
    """Drops the logical types of a schema as it walks it, and composes their checks."""

    def __init__(self, namespace: str) -> None:
        self._namespace = namespace
        self._named: dict[str, Normalise | None] = {}

    def of(self, schema: Any) -> Normalise | None:
        """The normaliser of one (sub)schema; None when nothing in it has a logical type."""
        if isinstance(schema, str):
            return self._reference(schema)
        if isinstance(schema, list):
            return self._union(schema)
        kind, logical = schema.get("type"), schema.pop("logicalType", None)
        if logical is not None:
            check = LOGICAL.get((kind, logical))
            if check is None:
                raise SchemaError(f"logical type {logical} on {kind} cannot be read plain")
            return check
        if kind not in _COMPLEX:
            return self.of(kind)  # {"type": "string"}, {"type": {...}}
        outer = self._namespace
        own = self._namespace = str(schema.get("namespace", outer))
        try:
            found = self._complex(kind, schema)
        finally:
            self._namespace = outer
        if "name" in schema:
            self._named[self._full(str(schema["name"]), own)] = found
        return found

    def _complex(self, kind: str, schema: dict[str, Any]) -> Normalise | None:
        if kind == "record":
            fields = [(str(f["name"]), check) for f in schema["fields"] if (check := self._field(f["type"]))]
            return _record(fields) if fields else None
        if kind == "array":
            items = self.of(schema["items"])
            return (lambda values: [items(v) for v in values]) if items else None
        if kind == "map":
            values_of = self.of(schema["values"])
            return (lambda values: {k: values_of(v) for k, v in values.items()}) if values_of else None
        return None  # enum, fixed

    def _field(self, schema: Any) -> Normalise | None:
        """A record field's normaliser for its values other than None (the record passes None by)."""
        if isinstance(schema, list) and len(present := [b for b in schema if b != "null"]) == 1:
            return self.of(present[0])
        return self.of(schema)

    def _union(self, branches: list[Any]) -> Normalise | None:
        present = [branch for branch in branches if branch != "null"]
        checks = [self.of(branch) for branch in present]
        if not any(checks):
            return None
        if len(present) != 1:
            raise SchemaError("a union of several types with a logical type cannot be read plain")
        only: Normalise = checks[0]  # type: ignore[assignment]
        return lambda value: None if value is None else only(value)

    def _reference(self, name: str) -> Normalise | None:
        if name in _PRIMITIVES:
            return None
        full = self._full(name)
        if full not in self._named:
            raise SchemaError(f"named type {name} is used before it is defined")
        return self._named[full]

    def _full(self, name: str, namespace: str | None = None) -> str:
        space = self._namespace if namespace is None else namespace
        return name if "." in name else f"{space}.{name}".lstrip(".")


def _record(fields: list[tuple[str, Normalise]]) -> Normalise:
    def normalise(record: dict[str, Any]) -> dict[str, Any]:
        for name, check in fields:
            if (value := record[name]) is not None:  # None is only ever the null of a union
                record[name] = check(value)
        return record

    return normalise
