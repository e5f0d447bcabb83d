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
translated at the seam with ``raise ... from exc``.
"""

from __future__ import annotations


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
