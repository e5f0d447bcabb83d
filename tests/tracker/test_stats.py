"""Funnel and indicator 354 on small hand-computed examples."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from rujukan.tracker.stats import (
    WIB,
    FunnelRow,
    IndicatorValue,
    StageTimes,
    funnel,
    indicator_354,
    indicator_354_counts,
    parse_period,
    percentile,
    published_funnel,
    suppress_small,
)

T = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


@dataclass
class Row:
    subject_id: str
    subject_category: str
    region_code: str
    created_at: dt.datetime
    status: str = "requested"
    completed_at: dt.datetime | None = None
    acknowledged_at: dt.datetime | None = None
    accepted_at: dt.datetime | None = None
    from_agency: str = "POLRES-JAKTIM-PPA"
    to_agency: str = "UPTD-PPA-DKI"


def test_indicator_354_hand_computed() -> None:
    march = parse_period("2026-03")
    rows = [
        # Region 31.75: subjects A, B, C created in March; A completed in March (twice: counts once);
        # B completed in April (not counted); C never.  -> 1 / 3 = 33.33 %
        Row("A", "violence_victim_woman", "31.75", T, "completed", completed_at=T + 24 * H),
        Row("A", "violence_victim_woman", "31.75", T + H, "completed", completed_at=T + 48 * H),
        Row("B", "violence_victim_child", "31.75", T, "completed", completed_at=dt.datetime(2026, 4, 2, tzinfo=dt.UTC)),
        Row("C", "violence_victim_woman", "31.75", T),
        # Not a victim category: ignored.
        Row("D", "ex_inmate", "31.75", T, "completed", completed_at=T + H),
        # Region 31.71: E created in February, completed in March -> numerator 1, denominator 0 -> no percent
        Row(
            "E", "violence_victim_child", "31.71", dt.datetime(2026, 2, 20, tzinfo=dt.UTC), "completed", completed_at=T
        ),
        # Region 32.73: F created and completed in March -> 1 / 1 = 100 %
        Row("F", "violence_victim_woman", "32.73", T, "completed", completed_at=T + 5 * H),
    ]
    values = {
        v.region_code: (v.numerator, v.denominator, v.percent)
        for v in indicator_354_counts(rows, start=march[0], end=march[1])
    }
    assert values == {
        "31.75": (1, 3, 33.33),
        "31.71": (1, 0, None),
        "32.73": (1, 1, 100.0),
        "ALL": (3, 4, 75.0),  # numerator {A, E, F}, denominator {A, B, C, F}
    }


def test_periods_are_wib_calendar_ranges() -> None:
    assert parse_period("2026") == (dt.datetime(2026, 1, 1, tzinfo=WIB), dt.datetime(2027, 1, 1, tzinfo=WIB))
    assert parse_period("2026-Q4") == (dt.datetime(2026, 10, 1, tzinfo=WIB), dt.datetime(2027, 1, 1, tzinfo=WIB))
    assert parse_period("2026-12")[1] == dt.datetime(2027, 1, 1, tzinfo=WIB)
    # 2026-02-28 20:00 UTC is already 1 March in Jakarta
    start, _ = parse_period("2026-03")
    assert start <= dt.datetime(2026, 2, 28, 20, 0, tzinfo=dt.UTC)
    for bad in ("26", "2026-13", "2026-Q5", "2026-3", "march"):
        with pytest.raises(ValueError, match="period must look like"):
            parse_period(bad)


PPA, UPTD, RSUD = "POLRES-JAKTIM-PPA", "UPTD-PPA-DKI", "RSUD-KRAMATJATI"


def test_funnel_counts_and_durations() -> None:
    rows: list[StageTimes] = [
        (PPA, UPTD, "accepted", 1, 2, None),
        (PPA, UPTD, "completed", 3, 4, 10),
        (PPA, UPTD, "requested", None, None, None),
        (PPA, RSUD, "requested", None, None, None),
    ]
    [rsud, ppa] = funnel(rows)  # sorted by (from, to)
    assert (ppa.to_agency, ppa.total, ppa.by_status) == (
        "UPTD-PPA-DKI",
        3,
        {"accepted": 1, "completed": 1, "requested": 1},
    )
    assert ppa.hours["acknowledge"] == {"median": 2.0, "p90": 2.8, "n": 2.0}
    assert ppa.hours["complete"] == {"median": 10.0, "p90": 10.0, "n": 1.0}
    assert rsud.hours["accept"] == {"median": None, "p90": None, "n": 0.0}


def test_percentile_interpolates() -> None:
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([5], 0.9) == 5
    assert percentile([], 0.5) is None


def test_cells_of_fewer_than_five_people_are_withheld_and_cannot_be_worked_out() -> None:
    published = {
        v.region_code: v.published()
        for v in suppress_small(
            [
                IndicatorValue("31.71", 6, 9),
                IndicatorValue("31.72", 1, 3),  # 3 people: withheld
                IndicatorValue("31.73", 5, 8),  # the next smallest: withheld too, else ALL - others gives 31.72
                IndicatorValue("31.74", 7, 20),
                IndicatorValue("ALL", 19, 40),
            ]
        )
    }
    assert published["31.72"] == {
        "region_code": "31.72",
        "numerator": None,
        "denominator": None,
        "percent": None,
        "suppressed": True,
    }
    assert published["31.73"]["suppressed"] is True
    assert published["31.71"] == {
        "region_code": "31.71",
        "numerator": 6,
        "denominator": 9,
        "percent": 66.67,
        "suppressed": False,
    }
    assert published["ALL"]["percent"] == 47.5
    assert all(v.suppressed for v in suppress_small([IndicatorValue("31.71", 2, 2), IndicatorValue("ALL", 2, 2)]))
    march = parse_period("2026-03")
    few = [Row(f"S{i}", "violence_victim_woman", "31.75", T) for i in range(4)]
    assert all(v.percent is None for v in indicator_354(few, start=march[0], end=march[1]))


def test_funnel_cells_under_five_are_withheld() -> None:
    row = FunnelRow(
        "LAPAS-CIPINANG",
        "BAPAS-JAKTIM",
        total=9,
        by_status={"requested": 2, "completed": 7},
        hours={"accept": {"median": 1.0, "p90": 2.0, "n": 3.0}, "complete": {"median": 5.0, "p90": 9.0, "n": 7.0}},
    )
    shown = published_funnel(row)
    assert shown.by_status == {"requested": None, "completed": 7}
    assert shown.total is None  # else 9 - 7 gives the withheld 2
    assert shown.hours["accept"] == {"median": None, "p90": None, "n": None}
    assert shown.hours["complete"] == {"median": 5.0, "p90": 9.0, "n": 7.0}
    assert published_funnel(FunnelRow("A", "B", 12, {"requested": 5, "completed": 7}, {})).total == 12
