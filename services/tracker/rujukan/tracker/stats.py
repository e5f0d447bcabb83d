"""Statistics for coordinators, as pure functions over handoff rows.

Funnel: per (from agency, to agency), how many referrals are in each status and how long the receiving
agency took to acknowledge, accept and complete (median and 90th percentile, in hours).

Indicator 354 (Satu Data), *Cakupan layanan reintegrasi sosial bagi perempuan dan anak korban kekerasan*,
per region and period: distinct subjects of category violence_victim_woman or violence_victim_child
with at least one referral completed in the period, divided by the distinct such subjects with at least
one referral created in the period, times 100. Taken literally from DESIGN.md: a subject referred before
the period and served within it counts in the numerator only, so the value can exceed 100.

Small cells are not published: a count of 1 to 4 (people, or referrals of an agency pair) could point at
someone, so it is shown as null (``<5`` on the dashboard), and so is what would let it be worked out by
subtraction (a row's total beside a suppressed status; a second region beside a single suppressed one).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol
from zoneinfo import ZoneInfo

VICTIM_CATEGORIES = frozenset({"violence_victim_woman", "violence_victim_child"})
SMALL_CELL = 5
STAGES = ("acknowledge", "accept", "complete")


class HandoffLike(Protocol):
    """What the indicator reads of a handoff."""

    status: str
    subject_id: str
    subject_category: str
    region_code: str
    created_at: dt.datetime
    completed_at: dt.datetime | None


# What the funnel reads of a handoff: from agency, to agency, status, and the hours from creation to
# acknowledge, accept and complete (None where the stage was not reached).
StageTimes = tuple[str, str, str, float | None, float | None, float | None]


@dataclass
class FunnelRow:
    from_agency: str
    to_agency: str
    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    hours: dict[str, dict[str, float | None]] = field(default_factory=dict)  # stage -> {median, p90, n}


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (as numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def funnel(handoffs: Iterable[StageTimes]) -> list[FunnelRow]:
    counts: dict[tuple[str, str], dict[str, int]] = {}
    durations: dict[tuple[str, str], tuple[list[float], list[float], list[float]]] = {}
    for sender, receiver, status, acknowledged, accepted, completed in handoffs:  # tuples: 100,000s of rows
        pair = (sender, receiver)
        by_status = counts.get(pair)
        if by_status is None:
            by_status = counts[pair] = {}
            durations[pair] = ([], [], [])
        by_status[status] = by_status.get(status, 0) + 1
        acknowledge, accept, complete = durations[pair]
        if acknowledged is not None:
            acknowledge.append(acknowledged)
        if accepted is not None:
            accept.append(accepted)
        if completed is not None:
            complete.append(completed)
    rows = []
    for (sender, receiver), by_status in sorted(counts.items()):
        hours = {
            stage: {"median": percentile(values, 0.5), "p90": percentile(values, 0.9), "n": float(len(values))}
            for stage, values in zip(STAGES, durations[(sender, receiver)], strict=True)
        }
        rows.append(
            FunnelRow(
                from_agency=sender, to_agency=receiver, total=sum(by_status.values()), by_status=by_status, hours=hours
            )
        )
    return rows


def small(count: float | None) -> bool:
    return count is not None and 0 < count < SMALL_CELL


@dataclass(frozen=True)
class PublishedFunnel:
    """A funnel row as published: counts under 5 and durations of fewer than 5 referrals withheld (None)."""

    from_agency: str
    to_agency: str
    total: int | None
    by_status: dict[str, int | None]
    hours: dict[str, dict[str, float | None]]


def published_funnel(row: FunnelRow) -> PublishedFunnel:
    by_status: dict[str, int | None] = {s: (None if small(n) else n) for s, n in row.by_status.items()}
    hours = {
        stage: (dict.fromkeys(measures) if small(measures["n"]) else measures) for stage, measures in row.hours.items()
    }
    withheld = None in by_status.values() or small(row.total)
    return PublishedFunnel(row.from_agency, row.to_agency, None if withheld else row.total, by_status, hours)


@dataclass(frozen=True)
class IndicatorValue:
    region_code: str
    numerator: int
    denominator: int
    suppressed: bool = False

    @property
    def percent(self) -> float | None:
        if self.suppressed or not self.denominator:
            return None
        return round(100 * self.numerator / self.denominator, 2)

    def published(self) -> dict[str, object]:
        shown = not self.suppressed
        return {
            "region_code": self.region_code,
            "numerator": self.numerator if shown else None,
            "denominator": self.denominator if shown else None,
            "percent": self.percent,
            "suppressed": self.suppressed,
        }


def suppress_small(values: list[IndicatorValue]) -> list[IndicatorValue]:
    """Withhold regions with 1 to 4 subjects counted, and, when that leaves a single region withheld beside
    the total, the next smallest region too (else the total minus the others gives it away)."""
    hidden = {v.region_code for v in values if v.region_code != "ALL" and (small(v.numerator) or small(v.denominator))}
    if len(hidden) == 1:
        others = sorted(
            (v for v in values if v.region_code not in hidden and v.region_code != "ALL"),
            key=lambda v: (v.denominator, v.region_code),
        )
        hidden |= {others[0].region_code} if others else {"ALL"}
    total_small = any(v.region_code == "ALL" and (small(v.numerator) or small(v.denominator)) for v in values)
    if total_small:
        hidden |= {v.region_code for v in values}
    return [replace(v, suppressed=v.region_code in hidden) for v in values]


def indicator_354(handoffs: Iterable[HandoffLike], *, start: dt.datetime, end: dt.datetime) -> list[IndicatorValue]:
    """The indicator as published: :func:`indicator_354_counts` with small cells withheld."""
    return suppress_small(indicator_354_counts(handoffs, start=start, end=end))


def indicator_354_counts(
    handoffs: Iterable[HandoffLike], *, start: dt.datetime, end: dt.datetime
) -> list[IndicatorValue]:
    """Per region code of the subject, for the period [start, end); plus a row "ALL" for the total."""
    created: dict[str, set[str]] = defaultdict(set)
    completed: dict[str, set[str]] = defaultdict(set)
    for h in handoffs:
        if h.subject_category not in VICTIM_CATEGORIES:
            continue
        for region in (h.region_code, "ALL"):
            if h.status != "planned" and start <= h.created_at < end:  # a planned step counts once it is sent
                created[region].add(h.subject_id)
            if h.status == "completed" and h.completed_at is not None and start <= h.completed_at < end:
                completed[region].add(h.subject_id)
    regions = sorted(set(created) | set(completed), key=lambda r: (r == "ALL", r))
    return [IndicatorValue(r, len(completed[r]), len(created[r])) for r in regions]


WIB = ZoneInfo("Asia/Jakarta")  # periods of official statistics follow Western Indonesia Time
PERIOD = re.compile(r"^(?P<year>\d{4})(?:-(?:(?P<month>0[1-9]|1[0-2])|Q(?P<quarter>[1-4])))?$")


def parse_period(text: str) -> tuple[dt.datetime, dt.datetime]:
    """``2026``, ``2026-03`` or ``2026-Q1`` as a [start, end) range of WIB (Asia/Jakarta) calendar days."""
    match = PERIOD.match(text)
    if match is None:
        raise ValueError("period must look like 2026, 2026-03 or 2026-Q1")
    year = int(match["year"])
    if match["month"]:
        first, months = int(match["month"]), 1
    elif match["quarter"]:
        first, months = 3 * int(match["quarter"]) - 2, 3
    else:
        first, months = 1, 12
    start = dt.datetime(year, first, 1, tzinfo=WIB)
    end_month = first + months
    end = dt.datetime(year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1, tzinfo=WIB)
    return start, end
