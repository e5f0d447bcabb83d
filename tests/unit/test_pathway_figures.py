"""The pathway figures' rules on plain rows (pure): what counts as completed, and the small-cell rule."""

from __future__ import annotations

import datetime as dt

from rujukan.tracker.pathway_stats import Step, pathway_figures

ANCHOR = dt.date(2027, 1, 4)


def steps(pathway: str, *statuses: str, served_days: float | None = 2.0) -> list[Step]:
    served = None if served_days is None else dt.datetime(2027, 1, 4, tzinfo=dt.UTC) + dt.timedelta(days=served_days)
    return [
        Step(pathway, "conditional_release", "31.75.01", status, ANCHOR, served if i == 0 else None, None)
        for i, status in enumerate(statuses)
    ]


def test_a_step_forwarded_to_an_agency_that_completed_it_leaves_the_pathway_completed() -> None:
    rows = [s for i in range(5) for s in steps(f"p{i}", "completed", "forwarded", "completed")]
    rows += steps("open", "completed", "planned")
    rows += steps("cancelled", "completed", "cancelled")
    [region, total] = pathway_figures(rows, [])
    assert region.region_code == "31.75"  # the kabupaten/kota, not the kecamatan
    assert total.region_code == "ALL"
    assert (total.started, total.finished, total.completed) == (7, 6, 5)
    assert total.completion_rate == 71.4
    assert total.median_days_to_first_service == 2.0


def test_small_cells_and_what_they_give_away_are_withheld() -> None:
    rows = [s for i in range(4) for s in steps(f"p{i}", "completed", served_days=-3)]
    [_, total] = pathway_figures(rows, [("p0", 3, "employed"), ("p1", 3, "employed")])
    assert (total.started, total.completed, total.completion_rate) == (None, None, None)
    assert total.median_days_to_first_service is None  # four pathways' days
    assert total.follow_ups == {"3": {"employed": None}}
    assert pathway_figures([], []) == []
