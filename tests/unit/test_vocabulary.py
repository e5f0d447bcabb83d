"""The Python enums equal the Avro enums of the latest schemas, symbol for symbol and in order."""

from __future__ import annotations

from typing import Any

from rujukan.core.catalogue import default_catalogue
from rujukan.core.vocabulary import AVRO_ENUMS


def _avro_enums(node: Any, found: dict[str, list[str]]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "enum":
            name = node["name"] if "." in node["name"] else f"{node.get('namespace', '')}.{node['name']}"
            found.setdefault(name, node["symbols"])
            assert found[name] == node["symbols"], f"{name} differs between schemas"
        for value in node.values():
            _avro_enums(value, found)
    elif isinstance(node, list):
        for item in node:
            _avro_enums(item, found)


def test_python_enums_equal_the_schema_enums() -> None:
    found: dict[str, list[str]] = {}
    for name in default_catalogue().names():
        schema = default_catalogue().latest(name)
        assert schema is not None
        _avro_enums(schema.raw, found)
    assert set(found) == set(AVRO_ENUMS)
    for name, enum in AVRO_ENUMS.items():
        assert [member.value for member in enum] == found[name], name
