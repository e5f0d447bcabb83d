"""What an answer means for a delivery, and when to try again (pure: time and randomness are injected).

2xx: delivered. 410 Gone: the receiver wants no more; the subscription is disabled. 408, 425, 429, 5xx
and no answer at all (timeout, refused connection): try again later, honouring ``Retry-After`` on 429
and 503. Any other 4xx, and 3xx (redirects are not followed: a redirect could lead anywhere): a
permanent failure. Retries back off exponentially with jitter (each delay drawn between half and all of
the exponential step, capped) and go on until the retry window, 72 hours by default, has passed since the
first attempt; then the delivery is dead-lettered.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    PERMANENT = "permanent"
    GONE = "gone"


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
