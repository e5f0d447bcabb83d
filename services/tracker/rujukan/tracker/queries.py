"""What coordinators read: handoffs (overdue first), one handoff with its history, a case timeline, and
the rows the statistics are computed from. Nothing here is identifying: subjects are pseudonyms."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Float, and_, case, cast, func, or_
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from rujukan.core.db import Database
from rujukan.core.lifecycle import TERMINAL
from rujukan.tracker.errors import NotFound
from rujukan.tracker.models import HandoffRow, HistoryRow, ParallelLink, SlaBreachRow
from rujukan.tracker.stats import VICTIM_CATEGORIES

TERMINAL_STATUSES = sorted(status.value for status in TERMINAL)


class HandoffOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    referral_id: str
    case_id: str
    parent_referral_id: str | None
    continues_referral_id: str | None = None
    from_agency: str
    to_agency: str
    service_type: str
    urgency: str
    status: str
    subject_id: str
    subject_category: str
    subject_sex: str
    subject_age_band: str
    region_code: str
    created_at: dt.datetime
    updated_at: dt.datetime
    acknowledged_at: dt.datetime | None
    accepted_at: dt.datetime | None
    rejected_at: dt.datetime | None
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    closed_at: dt.datetime | None
    subject_erased: bool
    ack_due_at: dt.datetime | None  # None while planned: the clocks start when it is sent
    respond_due_at: dt.datetime | None
    planned_for: dt.datetime | None = None  # a planned referral's send time
    sent_at: dt.datetime | None = None
    pathway_id: str | None = None  # the pathway it is a step of, its template and step
    pathway_template: str | None = None
    pathway_step: str | None = None
    pathway_anchor_date: dt.date | None = None
    next_due_at: dt.datetime | None = None  # the earliest deadline of a clock still running
    overdue: bool = False
    parallel_referrals: int = 0  # the person's other referrals active now ("rujukan paralel"), in the scope


class HistoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    event_type: str
    occurred_at: dt.datetime
    actor_agency: str
    actor_staff: str | None = None  # the agency's person who acted (pseudonym; the name stays with the agency)
    status_after: str
    reason_code: str | None
    outcome: str | None
    to_agency: str | None
    child_referral_id: str | None
    checkpoint_months: int | None = None  # a pathway's follow-up check: 3, 6 or 12 months


class BreachOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    clock: str
    due_at: dt.datetime
    detected_at: dt.datetime


class HandoffDetail(HandoffOut):
    history: list[HistoryOut]
    breaches: list[BreachOut]
    parallel_referral_ids: list[str] = []  # those of them the caller may see (its region scope)


@dataclass(frozen=True)
class HandoffFilter:
    status: list[str] | None = None
    from_agency: str | None = None
    to_agency: str | None = None
    agency: str | None = None  # either side
    service_type: str | None = None
    region: str | None = None  # a region code and everything under it
    overdue: bool | None = None
    scope: str | None = None  # the caller's region scope (a coordinator credential's); None: everywhere


def in_region(region: str) -> ColumnElement[bool]:
    """A handoff whose subject is in ``region`` or a region under it."""
    return or_(col(HandoffRow.region_code) == region, col(HandoffRow.region_code).startswith(region + "."))


def overdue_condition(now: dt.datetime) -> ColumnElement[bool]:
    """A clock still running past due (never a planned referral's: its due times are null, and so false
    here rather than unknown, which "not overdue" would also leave out)."""
    return or_(
        and_(
            col(HandoffRow.ack_stopped_at).is_(None),
            col(HandoffRow.ack_due_at).is_not(None),
            col(HandoffRow.ack_due_at) < now,
        ),
        and_(
            col(HandoffRow.respond_stopped_at).is_(None),
            col(HandoffRow.respond_due_at).is_not(None),
            col(HandoffRow.respond_due_at) < now,
        ),
    )


def _conditions(filters: HandoffFilter, now: dt.datetime) -> list[Any]:
    conditions: list[Any] = []
    if filters.status:
        conditions.append(col(HandoffRow.status).in_(filters.status))
    for column, value in (
        (HandoffRow.from_agency, filters.from_agency),
        (HandoffRow.to_agency, filters.to_agency),
        (HandoffRow.service_type, filters.service_type),
    ):
        if value:
            conditions.append(col(column) == value)
    if filters.agency:
        conditions.append(
            or_(col(HandoffRow.from_agency) == filters.agency, col(HandoffRow.to_agency) == filters.agency)
        )
    for region in (filters.region, filters.scope):
        if region:
            conditions.append(in_region(region))
    if filters.overdue is not None:
        overdue = overdue_condition(now)
        conditions.append(overdue if filters.overdue else ~overdue)
    return conditions


def list_handoffs(
    db: Database, *, filters: HandoffFilter, now: dt.datetime, page: int = 1, page_size: int = 50
) -> tuple[list[HandoffOut], int]:
    """A page of handoffs, overdue first, then most recently changed; and the total count."""
    conditions = _conditions(filters, now)
    overdue_first = case((overdue_condition(now), 0), else_=1)
    query = (
        select(HandoffRow)
        .where(*conditions)
        .order_by(overdue_first, col(HandoffRow.updated_at).desc(), col(HandoffRow.referral_id))
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    with db.read() as session:
        rows = session.exec(query).all()
        total = session.execute(select(func.count()).select_from(HandoffRow).where(*conditions)).scalar_one()
        parallel = parallel_referrals(session, [row.referral_id for row in rows], scope=filters.scope)
    return [_out(row, now, parallel) for row in rows], int(total)


def parallel_referrals(
    session: Session, referral_ids: list[str], *, scope: str | None = None, active_only: bool = True
) -> dict[str, list[tuple[str, str]]]:
    """Per referral of ``referral_ids``: (id, region code) of each of the person's other referrals that is
    active now (any, without ``active_only``), linked either way (:class:`ParallelLink`); with a region
    ``scope``, those in it only."""
    found: dict[str, list[tuple[str, str]]] = {}
    if not referral_ids:
        return found
    for mine, theirs in (
        (ParallelLink.referral_id, ParallelLink.other_referral_id),
        (ParallelLink.other_referral_id, ParallelLink.referral_id),
    ):
        query = (
            core_select(col(mine), col(HandoffRow.referral_id), col(HandoffRow.region_code))
            .join(HandoffRow, col(HandoffRow.referral_id) == col(theirs))
            .where(col(mine).in_(referral_ids))
        )
        if active_only:
            query = query.where(col(HandoffRow.status).notin_(TERMINAL_STATUSES))
        if scope is not None:
            query = query.where(in_region(scope))
        for referral_id, other_id, region in session.execute(query):
            found.setdefault(referral_id, []).append((other_id, region))
    return found


def _out(row: HandoffRow, now: dt.datetime, parallel: dict[str, list[tuple[str, str]]]) -> HandoffOut:
    out = HandoffOut.model_validate(row)
    out.parallel_referrals = len(parallel.get(row.referral_id, ())) if row.status not in TERMINAL_STATUSES else 0
    running = [
        due
        for stopped, due in ((row.ack_stopped_at, row.ack_due_at), (row.respond_stopped_at, row.respond_due_at))
        if stopped is None and due is not None
    ]
    out.next_due_at = min(running) if running else None
    out.overdue = out.next_due_at is not None and out.next_due_at < now  # the same as overdue_condition
    return out


def get_handoff(db: Database, *, referral_id: str, now: dt.datetime, scope: str | None = None) -> HandoffDetail:
    details = _details(db, [referral_id], now, scope)
    if not details:
        raise NotFound("handoff not found")
    return details[0]


def get_case(db: Database, *, case_id: str, now: dt.datetime, scope: str | None = None) -> list[HandoffDetail]:
    """The case's handoffs (those in ``scope``): NotFound when none is."""
    with db.read() as session:
        ids = list(session.exec(select(HandoffRow.referral_id).where(HandoffRow.case_id == case_id)).all())
    found = _details(db, ids, now, scope) if ids else []
    if not found:
        raise NotFound("case not found")
    return found


def get_pathway(db: Database, *, subject_id: str, now: dt.datetime, scope: str | None = None) -> list[HandoffDetail]:
    """A person's pathway across cases: every handoff of each case that holds a referral of the subject
    ``subject_id`` (a pseudonym, as the tracker shows it), and of each case holding a referral linked to one
    of those as the same person's (:class:`ParallelLink`), in time order; NotFound when none is in scope."""
    with db.read() as session:
        own = list(session.exec(select(HandoffRow.referral_id).where(HandoffRow.subject_id == subject_id)).all())
        links = parallel_referrals(session, own, active_only=False)  # finished ones are on the pathway too
        linked = {other for others in links.values() for other, _ in others}
        cases = select(HandoffRow.case_id).where(col(HandoffRow.referral_id).in_([*own, *linked])).distinct()
        ids = list(session.exec(select(HandoffRow.referral_id).where(col(HandoffRow.case_id).in_(cases))).all())
    found = _details(db, ids, now, scope) if ids else []
    if not found:
        raise NotFound("pathway not found")
    return found


def in_scope(db: Database, referral_ids: list[str], scope: str | None) -> list[str]:
    """The ids among ``referral_ids`` of handoffs in ``scope`` (all of them without a scope)."""
    if scope is None or not referral_ids:
        return referral_ids
    query = select(HandoffRow.referral_id).where(col(HandoffRow.referral_id).in_(referral_ids), in_region(scope))
    with db.read() as session:
        return list(session.exec(query).all())


def _details(db: Database, referral_ids: list[str], now: dt.datetime, scope: str | None) -> list[HandoffDetail]:
    with db.read() as session:
        query = select(HandoffRow).where(col(HandoffRow.referral_id).in_(referral_ids))
        if scope is not None:
            query = query.where(in_region(scope))
        rows = session.exec(query.order_by(col(HandoffRow.created_at), col(HandoffRow.referral_id))).all()
        history = session.exec(
            select(HistoryRow).where(col(HistoryRow.referral_id).in_(referral_ids)).order_by(col(HistoryRow.seq))
        ).all()
        breaches = session.exec(select(SlaBreachRow).where(col(SlaBreachRow.referral_id).in_(referral_ids))).all()
        parallel = parallel_referrals(session, [row.referral_id for row in rows], scope=scope)
    return [
        HandoffDetail(
            **_out(row, now, parallel).model_dump(),
            history=[HistoryOut.model_validate(h) for h in history if h.referral_id == row.referral_id],
            breaches=[BreachOut.model_validate(b) for b in breaches if b.referral_id == row.referral_id],
            parallel_referral_ids=[other for other, _ in parallel.get(row.referral_id, ())],
        )
        for row in rows
    ]


def _referred_at() -> Any:
    """When the receiving agency was asked: at creation, or when a planned referral was sent."""
    return func.coalesce(col(HandoffRow.sent_at), col(HandoffRow.created_at))


def _hours_since_created(column: Any, dialect: str) -> Any:
    """Hours from the referral (its sending, if it was planned) to ``column``, computed by the database (no
    datetimes to parse in Python)."""
    if dialect == "sqlite":
        return cast((func.julianday(column) - func.julianday(_referred_at())) * 24, Float)
    return cast(func.extract("epoch", column - _referred_at()) / 3600, Float)  # numeric otherwise


def funnel_rows(
    db: Database, *, service_type: str | None = None, region: str | None = None, scope: str | None = None
) -> list[Any]:
    """Per handoff: agencies, status and hours to acknowledge, accept and complete."""
    dialect = db.engine.dialect.name
    query = core_select(
        col(HandoffRow.from_agency),
        col(HandoffRow.to_agency),
        col(HandoffRow.status),
        _hours_since_created(HandoffRow.acknowledged_at, dialect).label("acknowledge_hours"),
        _hours_since_created(HandoffRow.accepted_at, dialect).label("accept_hours"),
        _hours_since_created(HandoffRow.completed_at, dialect).label("complete_hours"),
    ).where(*_conditions(HandoffFilter(service_type=service_type, region=region, scope=scope), dt.datetime.now(dt.UTC)))
    with db.read() as session:
        return list(session.execute(query).all())


def staff_actions(db: Database, *, agency: str, scope: str | None = None) -> list[dict[str, Any]]:
    """Who acted on what for one agency: per staff pseudonym (people of the agency acting through their own
    accounts; the agency's systems are ``None``), the number of each kind of event, of referrals, and the
    last time. In the caller's region scope."""
    conditions = [
        col(HistoryRow.actor_agency) == agency,
        *_conditions(HandoffFilter(scope=scope), dt.datetime.now(dt.UTC)),
    ]
    query = (
        core_select(
            col(HistoryRow.actor_staff),
            col(HistoryRow.event_type),
            func.count().label("events"),
            func.max(HistoryRow.occurred_at).label("last_at"),
        )
        .join(HandoffRow, col(HandoffRow.referral_id) == col(HistoryRow.referral_id))
        .where(*conditions)
        .group_by(col(HistoryRow.actor_staff), col(HistoryRow.event_type))
    )
    distinct_referrals = (
        core_select(col(HistoryRow.actor_staff), func.count(func.distinct(HistoryRow.referral_id)))
        .join(HandoffRow, col(HandoffRow.referral_id) == col(HistoryRow.referral_id))
        .where(*conditions)
        .group_by(col(HistoryRow.actor_staff))
    )
    people: dict[str | None, dict[str, Any]] = {}
    with db.read() as session:
        for staff, event_type, events, last_at in session.execute(query).all():
            person = people.setdefault(
                staff, {"actor_staff": staff, "actions": {}, "referrals": 0, "last_acted_at": None}
            )
            person["actions"][event_type] = int(events)
            if person["last_acted_at"] is None or last_at > person["last_acted_at"]:
                person["last_acted_at"] = last_at
        for staff, referrals in session.execute(distinct_referrals).all():
            people[staff]["referrals"] = int(referrals)
    return sorted(people.values(), key=lambda p: (p["actor_staff"] is None, p["actor_staff"] or ""))


def indicator_rows(
    db: Database, *, start: dt.datetime, end: dt.datetime, region: str | None = None, scope: str | None = None
) -> list[Any]:
    """The victim-category handoffs referred or completed in [start, end): all indicator 354 needs. A planned
    referral counts from when it is sent (its ``created_at`` here); one never sent (still planned, or
    cancelled before its day) was never a referral."""
    referred = _referred_at()
    was_sent = or_(col(HandoffRow.planned_for).is_(None), col(HandoffRow.sent_at).is_not(None))
    in_period = or_(
        and_(was_sent, referred >= start, referred < end),
        and_(col(HandoffRow.completed_at) >= start, col(HandoffRow.completed_at) < end),
    )
    query = core_select(
        col(HandoffRow.status),
        col(HandoffRow.subject_id),
        col(HandoffRow.subject_category),
        col(HandoffRow.region_code),
        referred.label("created_at"),
        col(HandoffRow.completed_at),
    ).where(
        col(HandoffRow.subject_category).in_(sorted(VICTIM_CATEGORIES)),
        in_period,
        *_conditions(HandoffFilter(region=region, scope=scope), dt.datetime.now(dt.UTC)),
    )
    with db.read() as session:
        return list(session.execute(query).all())
