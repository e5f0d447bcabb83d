"""Figures of pathways (issue #24): per template and region, how many pathways were started and completed,
the median days from the anchor date (say the release) to the first service, and the outcomes of the
follow-up checks at 3, 6 and 12 months.

A pathway counts once however many steps it has (indicator 354 already counts distinct subjects, and a
pathway is one subject). Its region is its first step's, at the kabupaten/kota level; every template also
has a row for all regions ("ALL"). A pathway is *completed* when every step was (a forwarded step by the
agency it was forwarded to, whose referral is a step too); *finished* when every step ended, however.
The first service is the earliest acceptance or start of any step; the days to it are negative when it
began before the anchor (supervision planned before a release). As every statistic of the tracker, a
count under 5 (and what is computed from one) is withheld as null.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select as core_select
from sqlmodel import col

from rujukan.core.db import Database
from rujukan.core.lifecycle import TERMINAL, Status
from rujukan.core.regions import KABUPATEN_KOTA, region_at
from rujukan.core.vocabulary import FOLLOW_UP_MONTHS
from rujukan.tracker.models import HandoffRow, HistoryRow
from rujukan.tracker.queries import in_region
from rujukan.tracker.stats import small

ALL = "ALL"


@dataclass(frozen=True, slots=True)
class Step:
    pathway_id: str
    template: str
    region_code: str
    status: str
    anchor: dt.date | None
    accepted_at: dt.datetime | None
    started_at: dt.datetime | None


@dataclass
class PathwayFigures:
    template: str
    region_code: str
    started: int | None = 0
    finished: int | None = 0
    completed: int | None = 0
    completion_rate: float | None = None  # percent of the started pathways that were completed
    median_days_to_first_service: float | None = None
    follow_ups: dict[str, dict[str, int | None]] = field(default_factory=dict)  # months -> outcome -> count


@dataclass
class _Tally:
    started: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    completed: set[str] = field(default_factory=set)
    days: list[float] = field(default_factory=list)
    follow_ups: dict[int, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))


def pathway_figures(steps: Iterable[Step], follow_ups: Iterable[tuple[str, int, str]]) -> list[PathwayFigures]:
    """The published figures: ``follow_ups`` are (pathway id, months, outcome) of the recorded checks."""
    by_pathway: dict[str, list[Step]] = defaultdict(list)
    for step in steps:
        by_pathway[step.pathway_id].append(step)
    tallies: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    where: dict[str, list[tuple[str, str]]] = {}
    for pathway_id, pathway in by_pathway.items():
        first = pathway[0]
        keys = [(first.template, region_at(first.region_code, KABUPATEN_KOTA)), (first.template, ALL)]
        where[pathway_id] = keys
        statuses = {Status(step.status) for step in pathway}
        served = [moment for s in pathway for moment in (s.accepted_at, s.started_at) if moment is not None]
        for key in keys:
            tally = tallies[key]
            tally.started.add(pathway_id)
            if statuses <= TERMINAL:
                tally.finished.add(pathway_id)
            if Status.COMPLETED in statuses and statuses <= {Status.COMPLETED, Status.FORWARDED}:
                tally.completed.add(pathway_id)
            if served and first.anchor is not None:
                anchor = dt.datetime.combine(first.anchor, dt.time(), dt.UTC)
                tally.days.append(round((min(served) - anchor).total_seconds() / 86400, 1))
    for pathway_id, months, outcome in follow_ups:
        for key in where.get(pathway_id, ()):
            tallies[key].follow_ups[months][outcome] += 1
    return [_published(template, region, tally) for (template, region), tally in sorted(tallies.items())]


def _count(value: int) -> int | None:
    return None if small(value) else value


def _published(template: str, region: str, tally: _Tally) -> PathwayFigures:
    started, completed = len(tally.started), len(tally.completed)
    rate = None
    if started and not small(started) and not small(completed):
        rate = round(100 * completed / started, 1)
    median = statistics.median(tally.days) if tally.days and not small(len(tally.days)) else None
    return PathwayFigures(
        template=template,
        region_code=region,
        started=_count(started),
        finished=_count(len(tally.finished)),
        completed=_count(completed),
        completion_rate=rate,
        median_days_to_first_service=median,
        follow_ups={
            str(months): {outcome: _count(n) for outcome, n in sorted(tally.follow_ups[months].items())}
            for months in FOLLOW_UP_MONTHS
            if months in tally.follow_ups
        },
    )


def pathway_rows(
    db: Database, *, template: str | None, region: str | None, scope: str | None
) -> tuple[list[Step], list[tuple[str, int, str]]]:
    """The steps of every pathway in the region and scope (first step first), and their recorded checks."""
    conditions: list[Any] = [col(HandoffRow.pathway_id).is_not(None)]
    if template:
        conditions.append(col(HandoffRow.pathway_template) == template)
    conditions += [in_region(r) for r in (region, scope) if r]
    steps = core_select(
        col(HandoffRow.pathway_id),
        col(HandoffRow.pathway_template),
        col(HandoffRow.region_code),
        col(HandoffRow.status),
        col(HandoffRow.pathway_anchor_date),
        col(HandoffRow.accepted_at),
        col(HandoffRow.started_at),
    ).where(*conditions)
    checks = (
        core_select(col(HandoffRow.pathway_id), col(HistoryRow.checkpoint_months), col(HistoryRow.outcome))
        .join(HistoryRow, col(HistoryRow.referral_id) == col(HandoffRow.referral_id))
        .where(col(HistoryRow.event_type) == "FollowUpRecorded", *conditions)
    )
    with db.read() as session:
        found = [
            Step(str(p), str(t), str(r), str(s), a, acc, st)
            for p, t, r, s, a, acc, st in session.execute(steps.order_by(col(HandoffRow.created_at)))
        ]
        recorded = [(str(p), int(m), str(o)) for p, m, o in session.execute(checks)]
    return found, recorded
