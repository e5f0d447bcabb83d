"""FULL_TRANSITIVE checking: the real schemas pass; breaking versions are named precisely."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from rujukan.cli.main import app
from rujukan.core.catalogue import SchemaCatalogue, default_catalogue, default_schemas_dir
from rujukan.core.compatibility import check_full_transitive

Edit = Callable[[dict[str, Any]], None]


def test_the_shipped_schemas_are_full_transitive() -> None:
    assert check_full_transitive(default_catalogue()) == []


def _with_versions(tmp_path: Path, name: str, *edits: Edit) -> Path:
    """Copy schemas/ and add versions 2, 3 ... of ``name``, each the previous one after an edit."""
    directory = tmp_path / "schemas"
    shutil.copytree(default_schemas_dir(), directory)
    folder = next(directory.rglob(f"{name}.v1.avsc")).parent
    raw = json.loads((folder / f"{name}.v1.avsc").read_text())
    for version, edit in enumerate(edits, start=2):
        edit(raw)
        (folder / f"{name}.v{version}.avsc").write_text(json.dumps(raw, indent=2))
    return directory


def _add_optional_field(raw: dict[str, Any]) -> None:
    raw["fields"].append({"name": "channel", "type": ["null", "string"], "default": None})


def _add_required_field(raw: dict[str, Any]) -> None:
    raw["fields"].append({"name": "channel", "type": "string"})


def _drop_enum_symbol(raw: dict[str, Any]) -> None:
    field = next(f for f in raw["fields"] if f["name"] == "urgency")
    field["type"]["symbols"] = ["routine", "urgent"]


def _change_seq_type(raw: dict[str, Any]) -> None:
    next(f for f in raw["fields"] if f["name"] == "seq")["type"] = "string"


def _add_field_with_default(raw: dict[str, Any]) -> None:
    raw["fields"].append({"name": "channel", "type": "string", "default": "api"})


def _require_channel_and_add_priority(raw: dict[str, Any]) -> None:
    # Defaults are not part of the canonical form: add a field too, so v3 differs from v2 on the wire.
    del next(f for f in raw["fields"] if f["name"] == "channel")["default"]
    raw["fields"].append({"name": "priority", "type": ["null", "int"], "default": None})


def test_adding_an_optional_field_is_compatible(tmp_path: Path) -> None:
    directory = _with_versions(tmp_path, "ReferralAccepted", _add_optional_field)
    assert check_full_transitive(SchemaCatalogue.from_directory(directory)) == []


def test_adding_a_required_field_breaks_old_data(tmp_path: Path) -> None:
    directory = _with_versions(tmp_path, "ReferralAccepted", _add_required_field)
    problems = check_full_transitive(SchemaCatalogue.from_directory(directory))
    assert [(p.name, p.reader_version, p.writer_version) for p in problems] == [("ReferralAccepted", 2, 1)]
    assert problems[0].kinds == ("reader_field_missing_default_value",)
    assert "channel" in str(problems[0])


def test_dropping_an_enum_symbol_breaks_new_readers(tmp_path: Path) -> None:
    directory = _with_versions(tmp_path, "ReferralCreated", _drop_enum_symbol)
    problems = check_full_transitive(SchemaCatalogue.from_directory(directory))
    # the edited v2 lacks a symbol that v1 and the shipped v3 to v5 have: it cannot read their data
    assert [(p.reader_version, p.writer_version) for p in problems] == [(2, 1), (2, 3), (2, 4), (2, 5)]
    assert problems[0].kinds == ("missing_enum_symbols",)
    assert "emergency" in str(problems[0])


def test_changing_a_type_breaks_both_directions(tmp_path: Path) -> None:
    directory = _with_versions(tmp_path, "ReferralStarted", _change_seq_type)
    problems = check_full_transitive(SchemaCatalogue.from_directory(directory))
    assert {(p.reader_version, p.writer_version) for p in problems} == {(1, 2), (2, 1)}
    assert all(p.kinds == ("type_mismatch",) for p in problems)
    assert "/fields/5/type (field seq)" in str(problems[0])


def test_transitivity_compares_every_pair_not_only_neighbours(tmp_path: Path) -> None:
    # v2 adds a field with a default, v3 requires it: v1<->v2 and v2<->v3 are both fine,
    # but v3 cannot read v1 data (no value and no default for the field).
    directory = _with_versions(tmp_path, "ReferralAccepted", _add_field_with_default, _require_channel_and_add_priority)
    problems = check_full_transitive(SchemaCatalogue.from_directory(directory))
    assert [(p.reader_version, p.writer_version) for p in problems] == [(3, 1)]
    assert "field channel" in str(problems[0])


def test_cli_check_passes_on_the_shipped_schemas() -> None:
    result = CliRunner().invoke(app, ["schemas", "check"])
    assert result.exit_code == 0, result.output
    assert "FULL_TRANSITIVE compatible" in result.output


def test_cli_check_fails_naming_the_schema_and_the_change(tmp_path: Path) -> None:
    directory = _with_versions(tmp_path, "ReferralAccepted", _add_required_field)
    result = CliRunner().invoke(app, ["schemas", "check", "--dir", str(directory)])
    assert result.exit_code == 1
    assert "ReferralAccepted: v2 cannot read data written with v1" in result.output
    assert "reader_field_missing_default_value" in result.output
    assert "channel" in result.output
