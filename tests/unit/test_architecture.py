"""Dependency rules from DESIGN.md section 1, checked on the import statements of the source tree.

The shared package (rujukan.core) imports no service; services never import each other. Only the CLI
(the composition root) may import everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["referral", "tracker", "notifier", "audit"]
PACKAGES = {
    "core": ROOT / "src" / "rujukan" / "core",
    **{name: ROOT / "services" / name / "rujukan" / name for name in SERVICES},
}
# DESIGN.md: the audit tool rebuilds the tracker with the tracker's own projection, through the one module
# the tracker publishes for it (fold, migrate a scratch database, write, compare); nothing else of it.
ALSO_ALLOWED = {"audit": {"rujukan.tracker.rebuild"}}


def _imported_rujukan_modules(package_dir: Path) -> set[str]:
    found: set[str] = set()
    for path in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            found.update(name for name in names if name.startswith("rujukan."))
    return found


def _imported_rujukan_packages(package_dir: Path) -> set[str]:
    return {name.split(".")[1] for name in _imported_rujukan_modules(package_dir)}


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_package_imports_only_itself_and_core(package: str) -> None:
    assert PACKAGES[package].is_dir()
    own = {f"rujukan.{package}", "rujukan.core"}
    imported = {
        name for name in _imported_rujukan_modules(PACKAGES[package]) if not any(name.startswith(o) for o in own)
    }
    allowed = ALSO_ALLOWED.get(package, set())
    assert imported <= allowed, f"rujukan.{package} imports {sorted(imported - allowed)}"


def test_the_rule_sees_a_forbidden_import(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("from rujukan.tracker.projection import apply\nimport rujukan.core.codec\n")
    assert _imported_rujukan_packages(tmp_path) == {"tracker", "core"}
    assert _imported_rujukan_modules(tmp_path) == {"rujukan.tracker.projection", "rujukan.core.codec"}
