"""Errors of the referral service, each mapped to one HTTP status in ``api/problems.py``.

    ReferralServiceError (RujukanError)
    ├── Unauthenticated     401: no, unknown or revoked credential
    ├── NotFound            404: no such referral or subject, or the caller is not party to it
    ├── NotController       403: a party to the subject's referrals, but another agency controls the subject
    ├── Forbidden           403: a session's change without its CSRF token, or a supervisor's page for another
    ├── InvalidRequest      422: the request breaks a domain rule (unknown agency, consent missing ...)
    ├── Conflict            409: the request is valid but the current state refuses it
    │   ├── ActionNotAllowed    an illegal lifecycle action; carries the status and the allowed actions
    │   ├── SubjectErased       the subject's key is destroyed; nothing can be sealed for them any more
    │   ├── Restricted          the controller restricted the subject's data: only it may view or act
    │   └── LegalHold           erasure refused while a legal hold is active
    └── IdempotencyKeyReused 422: the same Idempotency-Key with a different request body

Messages name ids, codes and statuses, never personal data.
"""

from __future__ import annotations

from rujukan.core.errors import RujukanError


class ReferralServiceError(RujukanError):
    """Base of the referral service's errors."""


class Unauthenticated(ReferralServiceError):
    """No valid credential."""


class NotFound(ReferralServiceError):
    """Missing, or not the caller's: the two are indistinguishable on purpose."""


class NotController(ReferralServiceError):
    """The caller is party to the subject's referrals but does not control the subject (did not make them)."""


class Forbidden(ReferralServiceError):
    """Authenticated, but this request may not be made this way (no CSRF token) or by this person's role."""


class InvalidRequest(ReferralServiceError):
    """The request is well-formed but breaks a domain rule."""


class Conflict(ReferralServiceError):
    """The current state refuses the request."""


class ActionNotAllowed(Conflict):
    def __init__(self, message: str, *, status: str, allowed: list[str]) -> None:
        super().__init__(message)
        self.status = status
        self.allowed = allowed


class SubjectErased(Conflict):
    """The subject was erased (crypto-shredded)."""


class Restricted(Conflict):
    """The controlling agency restricted the processing of this subject's data."""


class LegalHold(Conflict):
    """A legal hold blocks erasure."""


class IdempotencyKeyReused(ReferralServiceError):
    """An Idempotency-Key was reused for a different request."""


class VersionMismatch(ReferralServiceError):
    """An update made on a version of the resource that is no longer the current one (If-Match)."""
