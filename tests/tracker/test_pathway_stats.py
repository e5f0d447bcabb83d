"""Pathway figures (issue #24 part 5) over HTTP, fed through the consumer: per template and region, pathways
started, finished and completed, the median days from the anchor to the first service and the follow-up
outcomes, with every cell under 5 withheld; JSON and CSV, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rujukan.core.db import Database
from rujukan.tracker.settings import TrackerSettings
from tests.tracker.journeys import REQUESTER, T0, Journey
from tests.tracker.test_api import app_client, feed  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration
ANCHOR = dt.date(2026, 10, 23)  # ten days before the first step's referral (T0)


def pathway(
    index: int, *, template: str = "conditional_release", region: str = "31.75", cancel_second: bool = False
) -> list[Journey]:
    """Two steps of one pathway; the first accepted ``index`` days after the others' first service."""
    pathway_id, case_id = uuid.uuid4(), uuid.uuid4()
    first = Journey(case_id=case_id, region=region, category="inmate_pre_release")
    second = Journey(
        case_id=case_id,
        region=region,
        to_agency="KEMENSOS-HANDAYANI",
        service_type="skills_training",
        subject_id=first.events[0]["subject_id"],
    )
    for step, journey in (("supervision", first), ("rehabilitation", second)):
        journey.events[0].update(
            pathway_id=pathway_id, pathway_template=template, pathway_step=step, pathway_anchor_date=ANCHOR
        )
    second.events[0]["continues_referral_id"] = first.referral_id
    first.then("ReferralAccepted", hours=1 + 24 * index).then("ReferralCompleted", hours=200, outcome="goals_met")
    if cancel_second:
        second.then("ReferralCancelled", hours=300)
    else:
        second.then("ReferralAccepted", hours=250).then("ReferralCompleted", hours=400, outcome="goals_met")
    second.pathway_id = pathway_id  # type: ignore[attr-defined]
    return [first, second]


def follow_up(journey: Journey, months: int, outcome: str, *, hours: float) -> None:
    journey.then(
        "FollowUpRecorded",
        hours=hours,
        by=REQUESTER,
        checkpoint_months=months,
        follow_up_outcome=outcome,
        pathway_id=journey.pathway_id,  # type: ignore[attr-defined]
        sealed_note=None,
    )


def test_pathway_figures_count_each_pathway_once_and_withhold_small_cells(
    app_client: tuple[TestClient, Any],  # noqa: F811
    tracker_db: Database,
    tracker_settings: TrackerSettings,
) -> None:
    client, _ = app_client
    journeys: list[Journey] = []
    for index in range(6):
        first, second = pathway(index, cancel_second=index == 5)
        if index < 5:
            follow_up(second, 3, "employed", hours=400 + 24 * 92)
            follow_up(second, 6, "employed" if index < 2 else "in_education", hours=400 + 24 * 183)
        journeys += [first, second]
    journeys += pathway(0, template="violence_victim", region="32.73")
    feed(tracker_db, tracker_settings, journeys)

    rows = {(r["template"], r["region_code"]): r for r in client.get("/v1/stats/pathways").json()}
    assert set(rows) == {
        ("conditional_release", "31.75"),
        ("conditional_release", "ALL"),
        ("violence_victim", "32.73"),
        ("violence_victim", "ALL"),
    }
    release = rows[("conditional_release", "31.75")]
    assert (release["started"], release["finished"], release["completed"]) == (6, 6, 5)  # 6 pathways, not 12 steps
    assert release["completion_rate"] == 83.3
    # the first service: 10.4, 11.4 ... 15.4 days after the anchor (08:00 plus 1 h on each day)
    assert release["median_days_to_first_service"] == 12.9
    assert release["follow_ups"] == {"3": {"employed": 5}, "6": {"employed": None, "in_education": None}}
    assert rows[("conditional_release", "ALL")] == {**release, "region_code": "ALL"}
    victim = rows[("violence_victim", "32.73")]  # one pathway: every figure would single it out
    assert (victim["started"], victim["completed"], victim["completion_rate"]) == (None, None, None)
    assert victim["median_days_to_first_service"] is None

    only = client.get("/v1/stats/pathways", params={"template": "violence_victim"}).json()
    assert {r["template"] for r in only} == {"violence_victim"}
    table = list(csv.DictReader(io.StringIO(client.get("/v1/stats/pathways", params={"format": "csv"}).text)))
    assert len(table) == 4
    assert table[0]["follow_up_3m_employed"] == "5"
    assert table[0]["follow_up_12m_returned_to_custody"] == "0"
    assert len({tuple(row) for row in table}) == 1  # every row has the same columns
    assert client.get("/v1/stats/pathways", params={"template": "Bad Code"}).status_code == 422


def test_indicator_354_counts_a_planned_referral_only_once_it_was_sent(
    app_client: tuple[TestClient, Any],  # noqa: F811
    tracker_db: Database,
    tracker_settings: TrackerSettings,
) -> None:
    client, _ = app_client
    victims = [Journey(category="violence_victim_woman", region="31.75") for _ in range(5)]
    for journey in victims:
        journey.then("ReferralAccepted", hours=1).then("ReferralCompleted", hours=5, outcome="goals_met")
    never_sent = [Journey(category="violence_victim_woman", region="31.75") for _ in range(2)]
    sent = Journey(category="violence_victim_woman", region="31.75")
    for journey in [*never_sent, sent]:
        journey.events[0]["planned_for"] = T0 + dt.timedelta(days=3)
    never_sent[1].then("ReferralCancelled", hours=2)
    sent.then(
        "ReferralSent",
        hours=72,
        by=REQUESTER,
        ack_due_at=T0 + dt.timedelta(days=4),
        respond_due_at=T0 + dt.timedelta(days=6),
    )
    feed(tracker_db, tracker_settings, [*victims, *never_sent, sent])
    values = client.get("/v1/stats/indicators/354", params={"period": "2026-11"}).json()["values"]
    total = next(v for v in values if v["region_code"] == "ALL")
    assert (total["numerator"], total["denominator"]) == (5, 6)  # the sent one counts; the two never sent do not
