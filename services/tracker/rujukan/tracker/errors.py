"""Errors of the tracker, each answered with one HTTP status in ``api/app.py`` or refused by the consumer.

    TrackerError (RujukanError)
    ├── Unauthenticated     401: no, unknown or revoked coordinator or auditor credential or session
    ├── NotFound            404: no such handoff, case or credential, or outside the caller's region
    ├── InvalidQuery        422: a query parameter that parses but makes no sense (a malformed period)
    ├── ProjectionError     an event contradicts its chain or the lifecycle: dead-lettered, never applied
    ├── SlaPolicyNeeded     an old event carries no SLA due times and no policy was given to compute them
    └── RebuildError        a database given to ``audit replay --rebuild/--compare`` cannot serve

Messages name ids, codes and statuses, never personal data.
"""

from __future__ import annotations

from rujukan.core.errors import RujukanError


class TrackerError(RujukanError):
    """Base of the tracker's errors."""


class Unauthenticated(TrackerError):
    """No valid coordinator or auditor credential."""


class NotFound(TrackerError):
    """No such handoff, case or credential."""


class InvalidQuery(TrackerError):
    """A query parameter that parses but makes no sense (e.g. a malformed period)."""


class ProjectionError(TrackerError):
    """An event that contradicts the chain or the lifecycle; it is dead-lettered, never applied."""


class SlaPolicyNeeded(TrackerError):
    """A ReferralCreated event written before the due times travelled in the events (v1), and no SLA policy
    to compute them with."""


class RebuildError(TrackerError):
    """A database given to rebuild into or to compare with cannot serve."""
