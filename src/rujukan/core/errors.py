"""The error tree of the shared package.

    RujukanError                 base of every error Rujukan raises on purpose; str() is safe to show
    ├── CodecError               an event could not be encoded or decoded (a poison message)
    │   ├── WrongMagic           the bytes do not start with the single-object marker C3 01
    │   ├── UnknownFingerprint   the writer schema's fingerprint is not in the catalogue
    │   ├── CorruptEvent         the body does not decode with its writer schema (truncated, garbage)
    │   └── EncodeError          a record does not match its schema
    ├── SchemaError              schemas/ is unreadable or breaks a rule (bad file, FULL_TRANSITIVE)
    └── BrokerError              the embedded broker could not be started or stopped
        └── BrokerPortInUse      the requested port already has a listener

Messages never contain event payloads or personal data: they name schemas, fields, offsets and byte
counts only, so they may go to logs, dead-letter headers and CLI output. Library exceptions are
translated at the seam with ``raise ... from exc``. For a log line about any exception use
:func:`safe_text` (one line) or :func:`safe_trace` (where it happened): they keep Rujukan's own messages
and only the class name of anything else.
"""

from __future__ import annotations

import traceback


class RujukanError(Exception):
    """Base of every error Rujukan raises on purpose. ``str(error)`` is safe to log and show."""


class CodecError(RujukanError):
    """An event could not be encoded or decoded; on the consumer side it is a poison message."""


class WrongMagic(CodecError):
    """The bytes are not Avro single-object encoded (no ``C3 01`` marker)."""


class UnknownFingerprint(CodecError):
    """The writer schema fingerprint is not in the catalogue built from schemas/."""

    def __init__(self, fingerprint: bytes) -> None:
        self.fingerprint = fingerprint
        super().__init__(f"unknown writer schema fingerprint {fingerprint.hex()}")


class CorruptEvent(CodecError):
    """The body does not decode with its writer schema: truncated, trailing or garbage bytes."""


class EncodeError(CodecError):
    """A record does not fit its schema (missing field, wrong type, unknown event type)."""


class SchemaError(RujukanError):
    """schemas/ holds an unreadable schema file or breaks a compatibility rule."""


class BrokerError(RujukanError):
    """The embedded broker could not be started, did not become ready or could not be stopped."""


class BrokerPortInUse(BrokerError):
    """Another process already listens on the requested broker port."""


def safe_text(exc: BaseException) -> str:
    """An error for a log line: the message of Rujukan's own errors (safe by construction), otherwise only
    the class name (a library's message may quote data)."""
    if isinstance(exc, RujukanError):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__


def safe_trace(exc: BaseException) -> str:
    """A traceback naming files, lines and functions, and each exception in the chain by :func:`safe_text`;
    no source lines, no local values, no library messages."""
    lines: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(lines) < 200:
        lines.append(f"  {safe_text(current)}")
        for frame in traceback.extract_tb(current.__traceback__):
            lines.append(f"    at {frame.filename}:{frame.lineno} in {frame.name}")
        current = current.__cause__ or current.__context__
        if current is not None:
            lines.append("  caused by")
    return "\n".join(lines)
