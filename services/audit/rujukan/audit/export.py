"""Exporting verified events to JSON Lines or CSV.

Sealed fields stay sealed: their ciphertext is written in base64, and nobody can read it without the
subject's key. With an ``Unsealer`` (the master key, for an auditor authorised to see identifying data,
whose access has been recorded before the first event is opened) the sealed fields are replaced by what
they hold, or by null for an erased subject.

CSV has one row per event with the fields every event shares as columns and the rest as one JSON object,
so that every event type fits one header.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import IO, Any, Protocol

from rujukan.audit.errors import ExportError

COMMON = ["event_id", "event_type", "occurred_at", "referral_id", "case_id", "seq", "actor_agency"]
CSV_HEADER = ["partition", "offset", *COMMON, "prev_hash", "fields"]


class Unsealer(Protocol):
    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        """``event`` with each ``sealed_*`` field replaced by its opened value (None when erased)."""
        ...


class Exporter:
    def __init__(self, stream: IO[str], kind: str, unsealer: Unsealer | None) -> None:
        self._stream = stream
        self._csv = csv.writer(stream) if kind == "csv" else None
        self._unsealer = unsealer
        self.written = 0
        if self._csv is not None:
            self._csv.writerow(CSV_HEADER)

    @classmethod
    def open(cls, path: Path, unsealer: Unsealer | None) -> Exporter:
        kind = path.suffix.lower().lstrip(".")
        if kind not in ("jsonl", "csv"):
            raise ExportError(f"export to a .jsonl or .csv file, not {path.name}")
        try:
            stream = path.open("x", encoding="utf-8", newline="")  # never overwrite an earlier export
        except FileExistsError as exc:
            raise ExportError(f"{path} already exists: choose another file") from exc
        except OSError as exc:
            raise ExportError(f"cannot write {path}: {exc.strerror}") from exc
        if unsealer is not None:
            path.chmod(0o600)
        return cls(stream, kind, unsealer)

    def write(self, partition: int, offset: int, event: dict[str, Any]) -> None:
        opened = self._unsealer(event) if self._unsealer is not None else event
        plain = {name: _plain(value) for name, value in opened.items()}
        plain["prev_hash"] = opened["prev_hash"].hex() if opened["prev_hash"] else None
        if self._csv is not None:
            rest = {k: v for k, v in plain.items() if k not in COMMON and k != "prev_hash"}
            self._csv.writerow(
                [partition, offset, *(plain[k] for k in COMMON), plain["prev_hash"], json.dumps(rest, sort_keys=True)]
            )
        else:
            self._stream.write(json.dumps({"partition": partition, "offset": offset, **plain}) + "\n")
        self.written += 1

    def close(self) -> None:
        self._stream.close()


def _plain(value: Any) -> Any:
    """A decoded value as JSON holds it: bytes in base64, instants and days in ISO 8601, UUIDs as text."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.date):  # a datetime too
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
