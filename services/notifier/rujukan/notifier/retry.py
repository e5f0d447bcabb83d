"""What an answer means for a delivery, and when to try again (pure: time and randomness are injected).

2xx: delivered. 410 Gone: the receiver wants no more; the subscription is disabled. 408, 425, 429, 5xx
and no answer at all (timeout, refused connection): try again later, honouring ``Retry-After`` on 429
and 503. Any other 4xx, and 3xx (redirects are not followed: a redirect could lead anywhere): a
permanent failure. Retries back off exponentially with jitter (each delay drawn between half and all of
the exponential step, capped) and go on until the retry window, 72 hours by default, has passed since the
first attempt; then the delivery is dead-lettered.

A delivery is pending until it is delivered or has failed for good (:class:`DeliveryStatus`, the strings
stored in the deliveries table and shown by the API). :func:`next_state` is the whole step from one
attempt's :class:`Answer` to the delivery's next state; the dispatcher only sends, stores and schedules.
Nothing here touches the network or the database, so every rule is tested without either.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from dataclasses import dataclass, replace
from enum import StrEnum

MAX_ERROR_CHARS = 200  # the delivery log's ``last_error`` column


# The stored and published values: never rename them (no migration, no API change).
class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    PERMANENT = "permanent"
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class Answer:
    """What came of one attempt: an HTTP status, or None and why no HTTP answer came."""

    status: int | None  # None: no HTTP answer
    retry_after: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class NextState:
    """A delivery after one more attempt: the values of its row that the attempt sets."""

    verdict: Verdict
    status: DeliveryStatus
    attempts: int
    first_attempt_at: dt.datetime
    last_attempt_at: dt.datetime
    last_status_code: int | None
    last_error: str | None  # None once delivered
    next_attempt_at: dt.datetime | None = None  # only while still pending
    delivered_at: dt.datetime | None = None


RETRYABLE = frozenset({408, 425, 429})


def verdict(status: int | None) -> Verdict:
    """``status`` None means no HTTP answer (timeout, connection refused or reset)."""
    if status is None or status in RETRYABLE or status >= 500:
        return Verdict.RETRY
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status == 410:
        return Verdict.GONE
    return Verdict.PERMANENT


def next_state(
    answer: Answer,
    *,
    attempts: int,
    first_attempt_at: dt.datetime | None,
    now: dt.datetime,
    policy: RetryPolicy,
    rng: random.Random,
    refused: bool = False,
) -> NextState:
    """The delivery's state after an attempt at ``now`` got ``answer``, given the ``attempts`` made before
    it (``first_attempt_at`` None: this was the first). ``refused``: the attempt was refused before anything
    was sent (subscription disabled or without a secret, unsafe destination), a failure for good."""
    outcome = Verdict.PERMANENT if refused else verdict(answer.status)
    made, first = attempts + 1, first_attempt_at or now
    error = _error_text(answer, outcome)
    state = NextState(outcome, DeliveryStatus.FAILED, made, first, now, answer.status, error)
    if outcome is Verdict.DELIVERED:
        return replace(state, status=DeliveryStatus.DELIVERED, delivered_at=now)
    if outcome is not Verdict.RETRY:
        return state
    wait = parse_retry_after(answer.retry_after, now) if answer.status in (429, 503) else None
    following = policy.next_attempt(attempts=made, first_attempt_at=first, now=now, rng=rng, retry_after=wait)
    if following is None:
        return replace(state, last_error=f"gave up after {made} attempts: {error}"[:MAX_ERROR_CHARS])
    return replace(state, status=DeliveryStatus.PENDING, next_attempt_at=following)


def _error_text(answer: Answer, outcome: Verdict) -> str | None:
    if outcome is Verdict.DELIVERED:
        return None
    if answer.error:
        return answer.error[:MAX_ERROR_CHARS]
    return f"HTTP {answer.status}"


def parse_retry_after(value: str | None, now: dt.datetime) -> dt.timedelta | None:
    """``Retry-After`` as seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return dt.timedelta(seconds=int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(when - now, dt.timedelta(0))


@dataclass(frozen=True)
class RetryPolicy:
    window: dt.timedelta = dt.timedelta(hours=72)
    first_delay: dt.timedelta = dt.timedelta(seconds=30)
    max_delay: dt.timedelta = dt.timedelta(hours=6)
    max_retry_after: dt.timedelta = dt.timedelta(hours=24)

    def next_attempt(
        self,
        *,
        attempts: int,
        first_attempt_at: dt.datetime,
        now: dt.datetime,
        rng: random.Random,
        retry_after: dt.timedelta | None = None,
    ) -> dt.datetime | None:
        """When to try again after ``attempts`` failed attempts; None once the retry window has passed."""
        if now - first_attempt_at >= self.window:
            return None
        if retry_after is not None:
            return now + min(retry_after, self.max_retry_after)
        step: dt.timedelta = min(self.first_delay * 2 ** max(attempts - 1, 0), self.max_delay)
        delay: dt.timedelta = step * rng.uniform(0.5, 1.0)
        return now + delay
