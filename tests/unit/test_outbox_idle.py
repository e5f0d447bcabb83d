"""An outbox written to now and then waits longer after each empty round (up to its ``max_idle_s``) and
goes back to the short wait as soon as a round publishes; the relay keeps the short wait."""

from __future__ import annotations

import pytest

from rujukan.core.kafka.outbox import IDLE_WAIT_S, OutboxPublisher
from rujukan.core.settings import CoreSettings


class Scripted(OutboxPublisher):
    """The publisher's own step and idle, with rounds that publish what the script says (no broker)."""

    def __init__(self, published: list[int], max_idle_s: float) -> None:
        super().__init__(CoreSettings(_env_file=None), store=None, topic="t", name="t", max_idle_s=max_idle_s)  # type: ignore[arg-type,call-arg]
        self._script = iter(published)

    def run_once(self) -> int:
        return next(self._script)


def waits(monkeypatch: pytest.MonkeyPatch, rounds: list[int], max_idle_s: float) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr("rujukan.core.kafka.outbox.time.sleep", slept.append)
    publisher = Scripted(rounds, max_idle_s)
    for _ in rounds:
        if publisher.step() == 0:  # as the supervisor does: idle only after an empty round
            publisher.idle()
    return slept


def test_empty_rounds_wait_longer_up_to_the_limit_and_work_resets_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    slept = waits(monkeypatch, [0, 0, 0, 0, 0, 0, 3, 0, 0], max_idle_s=0.8)
    assert slept == [IDLE_WAIT_S, 0.1, 0.2, 0.4, 0.8, 0.8, IDLE_WAIT_S, 0.1]


def test_the_default_keeps_the_short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    assert waits(monkeypatch, [0, 0, 0, 0], max_idle_s=IDLE_WAIT_S) == [IDLE_WAIT_S] * 4
