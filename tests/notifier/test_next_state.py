"""The delivery's next state after one attempt (``retry.next_state``): pure, so every rule is checked on
a fixed clock and a randomness that draws what the test says."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from rujukan.notifier.retry import Answer, DeliveryStatus, NextState, RetryPolicy, Verdict, next_state

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
POLICY = RetryPolicy()  # 72 h window, 30 s first delay, 6 h longest delay, Retry-After up to 24 h


class Draws(random.Random):
    """Jitter that always draws ``fraction`` of the way between the bounds asked for."""

    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.fraction


def after(
    answer: Answer,
    *,
    attempts: int = 0,
    first_attempt_at: dt.datetime | None = None,
    fraction: float = 1.0,
    refused: bool = False,
) -> NextState:
    return next_state(
        answer,
        attempts=attempts,
        first_attempt_at=first_attempt_at,
        now=NOW,
        policy=POLICY,
        rng=Draws(fraction),
        refused=refused,
    )


def test_a_2xx_delivers_on_the_first_attempt() -> None:
    state = after(Answer(204))
    assert state == NextState(
        verdict=Verdict.DELIVERED,
        status=DeliveryStatus.DELIVERED,
        attempts=1,
        first_attempt_at=NOW,
        last_attempt_at=NOW,
        last_status_code=204,
        last_error=None,
        next_attempt_at=None,
        delivered_at=NOW,
    )


def test_a_retryable_failure_stays_pending_and_backs_off_exponentially_with_jitter() -> None:
    started = NOW - dt.timedelta(hours=1)
    third = after(Answer(503), attempts=2, first_attempt_at=started, fraction=0.0)
    assert third.status is DeliveryStatus.PENDING
    assert third.verdict is Verdict.RETRY
    assert (third.attempts, third.first_attempt_at, third.last_status_code) == (3, started, 503)
    assert third.last_error == "HTTP 503"
    assert third.delivered_at is None
    # the third attempt's step is 30 s * 2**2 = 120 s; the jitter drew its least, half of the step
    assert third.next_attempt_at == NOW + dt.timedelta(seconds=60)
    whole_step = after(Answer(503), attempts=2, first_attempt_at=started, fraction=1.0)
    assert whole_step.next_attempt_at == NOW + dt.timedelta(seconds=120)
    much_later = after(Answer(503), attempts=20, first_attempt_at=started, fraction=1.0)
    assert much_later.next_attempt_at == NOW + dt.timedelta(hours=6)  # the longest delay caps the step


def test_no_answer_at_all_is_retried_with_its_reason_kept() -> None:
    state = after(Answer(None, error="no answer (ConnectError)"))
    assert state.status is DeliveryStatus.PENDING
    assert state.last_status_code is None
    assert state.last_error == "no answer (ConnectError)"
    assert state.next_attempt_at == NOW + dt.timedelta(seconds=30)


@pytest.mark.parametrize(("status", "wait"), [(429, 7200), (503, 90)])
def test_retry_after_sets_the_next_attempt_on_429_and_503(status: int, wait: int) -> None:
    state = after(Answer(status, retry_after=str(wait)))
    assert state.status is DeliveryStatus.PENDING
    assert state.next_attempt_at == NOW + dt.timedelta(seconds=wait)


def test_retry_after_on_another_status_is_ignored() -> None:
    state = after(Answer(500, retry_after="7200"))
    assert state.next_attempt_at == NOW + dt.timedelta(seconds=30)  # the back-off, not the header


def test_the_last_attempt_of_the_window_fails_for_good_and_says_why() -> None:
    started = NOW - POLICY.window
    state = after(Answer(503), attempts=41, first_attempt_at=started)
    assert state.verdict is Verdict.RETRY
    assert state.status is DeliveryStatus.FAILED
    assert state.next_attempt_at is None
    assert state.attempts == 42
    assert state.last_error == "gave up after 42 attempts: HTTP 503"
    just_inside = after(Answer(503), attempts=41, first_attempt_at=started + dt.timedelta(seconds=1))
    assert just_inside.status is DeliveryStatus.PENDING


@pytest.mark.parametrize(
    ("status", "expected"), [(400, Verdict.PERMANENT), (302, Verdict.PERMANENT), (410, Verdict.GONE)]
)
def test_a_permanent_answer_fails_at_once(status: int, expected: Verdict) -> None:
    """410 Gone fails the delivery like any permanent answer; its verdict is what disables the subscription."""
    state = after(Answer(status), attempts=3, first_attempt_at=NOW - dt.timedelta(minutes=5))
    assert state.verdict is expected
    assert state.status is DeliveryStatus.FAILED
    assert state.next_attempt_at is None
    assert state.last_error == f"HTTP {status}"
    assert state.attempts == 4


def test_a_refused_attempt_fails_for_good_although_no_answer_would_be_retried() -> None:
    state = after(Answer(None, error="the host h resolves to a non-public address"), refused=True)
    assert state.verdict is Verdict.PERMANENT
    assert state.status is DeliveryStatus.FAILED
    assert state.last_error == "the host h resolves to a non-public address"
    assert state.next_attempt_at is None


def test_a_long_error_is_cut_to_the_column() -> None:
    state = after(Answer(None, error="x" * 500))
    assert state.last_error == "x" * 200
    gave_up = after(Answer(None, error="x" * 500), attempts=41, first_attempt_at=NOW - POLICY.window)
    assert gave_up.status is DeliveryStatus.FAILED
    assert gave_up.last_error == ("gave up after 42 attempts: " + "x" * 200)[:200]  # VARCHAR(200) on PostgreSQL


def test_the_stored_status_strings_never_change() -> None:
    assert [s.value for s in DeliveryStatus] == ["pending", "delivered", "failed"]
