"""The demo scenario as data: its progress total is right, and it only asks agencies for what they offer
(the referral service refuses a service an agency does not list; the demo must not stop half-way)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rujukan.cli.demo import AGENCIES, STEP_COUNT, steps
from rujukan.core.vocabulary import ServiceType

OFFERS = {a.code: set(a.services) for a in AGENCIES}


class Recorder:
    """Stands in for the HTTP driver: remembers what was asked of whom."""

    day = dt.datetime(2026, 11, 22, 1, tzinfo=dt.UTC)

    def __init__(self) -> None:
        self.referrals: dict[str, tuple[str, str, ServiceType]] = {}
        self.asked: list[tuple[str, ServiceType]] = []

    def refer(self, key: str, by: str, to: str, service: ServiceType, urgency: str, subject: Any, **more: Any) -> Any:
        self.referrals[key] = (by, to, service)
        self.asked.append((to, service))
        return {"id": key, "case_id": f"case-{key}"}

    def act(self, by: str, referral: dict[str, Any], action: str, **body: Any) -> None:
        service = self.referrals[referral["id"]][2]
        assert by in OFFERS
        if action == "forward":
            self.asked.append((body["to_agency"], service))


def test_the_progress_total_is_the_number_of_steps() -> None:
    assert len(list(steps(Recorder()))) == STEP_COUNT  # type: ignore[arg-type]


def test_every_agency_is_registered_and_offers_what_it_is_asked() -> None:
    recorder = Recorder()
    list(steps(recorder))  # type: ignore[arg-type]
    for agency, service in recorder.asked:
        assert agency in OFFERS
        assert not OFFERS[agency] or service in OFFERS[agency], f"{agency} does not offer {service.value}"
    assert (
        len({by for by, _, _ in recorder.referrals.values()} | {to for _, to, _ in recorder.referrals.values()}) >= 12
    )
