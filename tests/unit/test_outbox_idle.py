"""How an outbox publisher waits between rounds: an outbox written to now and then waits longer after
each empty round (up to its ``max_idle_s``) and goes back to the short wait as soon as a round publishes;
after a partial batch the next round starts no sooner than ``PACE_S`` after the last one began, and after a
full batch at once."""

from __future__ import annotations

import pytest

from rujukan.core.kafka.outbox import IDLE_WAIT_S, PACE_S, OutboxPublisher
from rujukan.core.settings import CoreSettings

BATCH = 10


class Scripted(OutboxPublisher):
    """The publisher's own step and idle, with rounds that publish what the script says (no broker)."""

    def __init__(self, published: list[int], max_idle_s: float) -> None:
        settings = CoreSettings(_env_file=None)  # type: ignore[call-arg]
        super().__init__(settings, store=None, topic="t", name="t", batch_size=BATCH, max_idle_s=max_idle_s)  # type: ignore[arg-type]
        self._script = iter(published)

    def run_once(self) -> int:
        return next(self._script)


def waits(monkeypatch: pytest.MonkeyPatch, rounds: list[int], max_idle_s: float) -> list[float]:
    """Every wait of the rounds, on a clock that moves only when the publisher waits."""
    now, slept = [100.0], []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    monkeypatch.setattr("rujukan.core.kafka.outbox.time.sleep", sleep)
    monkeypatch.setattr("rujukan.core.kafka.outbox.time.monotonic", lambda: now[0])
    publisher = Scripted(rounds, max_idle_s)
    for _ in rounds:
        if publisher.step() == 0:  # as the supervisor does: idle only after an empty round
            publisher.idle()
    return slept


def test_empty_rounds_wait_longer_up_to_the_limit_and_work_resets_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    slept = waits(monkeypatch, [0, 0, 0, 0, 0, 0, BATCH, 0, 0], max_idle_s=0.8)
    assert slept == [IDLE_WAIT_S, 0.1, 0.2, 0.4, 0.8, 0.8, IDLE_WAIT_S, 0.1]


def test_the_default_keeps_the_short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    assert waits(monkeypatch, [0, 0, 0, 0], max_idle_s=IDLE_WAIT_S) == [IDLE_WAIT_S] * 4


def test_a_partial_batch_paces_the_next_round_and_a_full_one_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    slept = waits(monkeypatch, [BATCH, BATCH, 3, 3, BATCH, 0], max_idle_s=IDLE_WAIT_S)
    assert slept == [PACE_S, PACE_S, IDLE_WAIT_S]  # before the round after each 3; the 0 round idles
