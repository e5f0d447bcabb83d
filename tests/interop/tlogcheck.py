"""Go's reference implementations of signed notes, checkpoints and RFC 6962 proofs, as one command.

``tests/interop/tlogcheck`` is a small Go module (see its main.go) built once per set of sources into
``~/.cache/rujukan/tlogcheck/<hash of the Go sources>/``; :func:`check` sends it one JSON request and
returns its JSON answer. Go is required: without ``go`` on PATH the tests fail with a message saying so,
they are never skipped.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

SOURCES = Path(__file__).resolve().parent / "tlogcheck"
CACHE = Path.home() / ".cache" / "rujukan" / "tlogcheck"
BUILD_TIMEOUT = 600
RUN_TIMEOUT = 120


class GoMissing(AssertionError):
    """Go is not installed where the interop tests need it."""


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise GoMissing(
            "the Go toolchain is required by tests/interop (Go's reference note, checkpoint and tlog code): "
            "install Go 1.26 or later and put `go` on PATH"
        )
    return go


def _source_key(go: str) -> str:
    digest = hashlib.sha256()
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=True, timeout=60).stdout
    digest.update(version.encode())
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update(name.encode() + b"\0" + (SOURCES / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def binary() -> Path:
    """The built command, built now unless the cache already holds it for these sources."""
    go = _go()
    target = CACHE / _source_key(go) / "tlogcheck"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        built = Path(scratch) / "tlogcheck"
        env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly -buildvcs=false", "GOWORK": "off"}
        result = subprocess.run(
            [go, "build", "-trimpath", "-o", str(built), "."],
            cwd=SOURCES,
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
        )
        if result.returncode != 0:
            raise AssertionError(f"go build of {SOURCES} failed:\n{result.stderr}")
        built.replace(target)
    return target


def check(request: dict[str, Any]) -> dict[str, Any]:
    """Go's answer to one request (the shapes are described in tlogcheck/main.go)."""
    result = subprocess.run(
        [str(binary())], input=json.dumps(request), capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    if result.returncode != 0:
        raise AssertionError(f"tlogcheck failed: {result.stderr}")
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer
