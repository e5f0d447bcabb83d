"""Errors of the notifier, each answered with one HTTP status in ``api/app.py`` or handled where raised.

    NotifierError (RujukanError)
    ├── Unauthenticated      401: no, unknown or revoked agency credential
    ├── CheckUnavailable     503: the referral service, which vouches for agency credentials, did not answer
    ├── NoSubscription       404: the agency has no webhook subscription
    ├── InvalidSubscription  422: a subscription that cannot be set as asked (unknown event type, bad URL)
    ├── UnsafeDestination    422: a webhook URL Rujukan will not call (private, loopback ...); at delivery
    │                        time the attempt fails for good
    ├── NoDelivery           404: no such delivery (for this caller)
    ├── NotRedeliverable     409: a delivery that is still pending cannot be redelivered
    ├── Unroutable           an event whose referral's chain is unknown here: dead-lettered
    └── SecretBoxError       the notifier key is missing or unusable, or a stored secret does not open

Messages name ids, codes, hosts' kinds and statuses, never personal data or secrets.
"""

from __future__ import annotations

from rujukan.core.errors import RujukanError


class NotifierError(RujukanError):
    """Base of the notifier's errors."""


class Unauthenticated(NotifierError):
    """No valid agency credential."""


class Forbidden(NotifierError):
    """Authenticated, but not allowed this way (a change through an inbox session)."""


class CheckUnavailable(NotifierError):
    """The referral service, which vouches for agency credentials, did not answer."""


class NoSubscription(NotifierError):
    """The owner has no webhook subscription."""


class InvalidSubscription(NotifierError):
    """A subscription that cannot be set as asked (unknown event type, bad URL)."""


class UnsafeDestination(NotifierError):
    """A webhook URL that Rujukan will not call."""


class NoDelivery(NotifierError):
    """No such delivery (for this caller)."""


class NotRedeliverable(NotifierError):
    """A delivery that is still pending cannot be redelivered."""


class Unroutable(NotifierError):
    """An event the notifier cannot route (its referral's chain is unknown or broken here)."""


class SecretBoxError(NotifierError):
    """The notifier key is missing or unusable, or a stored secret does not open with it."""
