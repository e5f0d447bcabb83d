"""Errors of the audit tool; the CLI prints each as one line and exits non-zero.

    AuditError (RujukanError)
    ├── ReplayOptionError   options that cannot go together (--from with --rebuild, --compare with --to)
    ├── ReadError           the topic could not be read to its end (missing topic, broker gone quiet)
    └── ExportError         the export file cannot be written

Violations found in the log are not errors: they are the report. Messages name topics, offsets and
options, never personal data.
"""

from __future__ import annotations

from rujukan.core.errors import RujukanError


class AuditError(RujukanError):
    """Base of the audit tool's errors."""


class ReplayOptionError(AuditError):
    """Options that cannot go together."""


class ReadError(AuditError):
    """The topic could not be read to its end (missing topic, broker gone quiet)."""


class ExportError(AuditError):
    """The export file cannot be written."""
