"""Routes of the coordinator API: JSON by default, CSV with ``format=csv``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from rujukan.core.clock import utc_now
from rujukan.core.http import COMMON_ERRORS, PROBLEM_CONTENT
from rujukan.core.lifecycle import Status
from rujukan.core.vocabulary import AGENCY_CODE_PATTERN, FOLLOW_UP_MONTHS, FollowUpOutcome, ServiceType, Waitlist
from rujukan.tracker.api.auth import CallerDep, Db
from rujukan.tracker.directory import CapacityView, capacity_view
from rujukan.tracker.errors import InvalidQuery
from rujukan.tracker.pathway_stats import pathway_figures, pathway_rows
from rujukan.tracker.queries import (
    HandoffDetail,
    HandoffFilter,
    HandoffOut,
    funnel_rows,
    get_case,
    get_handoff,
    get_pathway,
    in_scope,
    indicator_rows,
    list_handoffs,
    staff_actions,
)
from rujukan.tracker.stats import funnel, indicator_354, parse_period, published_funnel

router = APIRouter(
    prefix="/v1",
    responses={
        **COMMON_ERRORS,
        401: {"description": "No valid coordinator or auditor credential", **PROBLEM_CONTENT},
        422: {"description": "The request breaks the schema", **PROBLEM_CONTENT},
    },
)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such handoff or case", **PROBLEM_CONTENT}}
Format = Annotated[Literal["json", "csv"], Query(description="csv for a spreadsheet download")]
CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}
AgencyQ = Annotated[str | None, Query(max_length=40, pattern=r"^[A-Z0-9][A-Z0-9-]{1,39}$")]
RegionQ = Annotated[
    str | None,
    Query(
        max_length=13,
        pattern=r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$",
        description="A region code; includes the regions under it",
    ),
]
PeriodQ = Annotated[str, Query(description="2026, 2026-03 or 2026-Q1 (WIB calendar)")]
HEARTBEAT_S = 15.0


class HandoffPage(BaseModel):
    items: list[HandoffOut]
    total: int
    page: int
    page_size: int


def csv_response(rows: Iterable[dict[str, Any]], filename: str) -> Response:
    buffer = io.StringIO()
    writer: csv.DictWriter[str] | None = None
    for row in rows:
        if writer is None:
            writer = csv.DictWriter(buffer, fieldnames=list(row))
            writer.writeheader()
        writer.writerow({k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in row.items()})
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/handoffs", response_model=HandoffPage, responses=CSV, summary="Handoffs, overdue first")
def handoffs(
    caller: CallerDep,
    db: Db,
    status: Annotated[list[Status] | None, Query()] = None,
    from_agency: AgencyQ = None,
    to_agency: AgencyQ = None,
    agency: AgencyQ = None,
    service_type: ServiceType | None = None,
    region: RegionQ = None,
    overdue: bool | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    format: Format = "json",
) -> HandoffPage | Response:
    filters = HandoffFilter(
        status=[s.value for s in status] if status else None,
        from_agency=from_agency,
        to_agency=to_agency,
        agency=agency,
        service_type=service_type,
        region=region,
        overdue=overdue,
        scope=caller.region_scope,
    )
    items, total = list_handoffs(db, filters=filters, now=utc_now(), page=page, page_size=page_size)
    if format == "csv":
        return csv_response((item.model_dump() for item in items), "handoffs.csv")
    return HandoffPage(items=items, total=total, page=page, page_size=page_size)


@router.get(
    "/handoffs/{referral_id}", response_model=HandoffDetail, responses=NOT_FOUND, summary="One handoff with its history"
)
def handoff(caller: CallerDep, db: Db, referral_id: str) -> HandoffDetail:
    return get_handoff(db, referral_id=referral_id, now=utc_now(), scope=caller.region_scope)


@router.get(
    "/cases/{case_id}",
    response_model=list[HandoffDetail],
    responses=NOT_FOUND,
    summary="A case timeline across agencies",
)
def case_timeline(caller: CallerDep, db: Db, case_id: str) -> list[HandoffDetail]:
    return get_case(db, case_id=case_id, now=utc_now(), scope=caller.region_scope)


@router.get(
    "/pathways/{subject_id}",
    response_model=list[HandoffDetail],
    responses=NOT_FOUND,
    summary="A person's pathway across cases, by subject pseudonym",
)
def pathway(caller: CallerDep, db: Db, subject_id: Annotated[str, Path(max_length=40)]) -> list[HandoffDetail]:
    return get_pathway(db, subject_id=subject_id, now=utc_now(), scope=caller.region_scope)


@router.get(
    "/stats/funnel", responses=CSV, summary="Per agency pair: counts per status, time to acknowledge/accept/complete"
)
def funnel_stats(
    caller: CallerDep, db: Db, service_type: ServiceType | None = None, region: RegionQ = None, format: Format = "json"
) -> Any:
    scope = caller.region_scope
    rows = [published_funnel(r) for r in funnel(funnel_rows(db, service_type=service_type, region=region, scope=scope))]
    if format == "csv":
        return csv_response(
            (
                {
                    "from_agency": r.from_agency,
                    "to_agency": r.to_agency,
                    "total": r.total,
                    **{f"status_{k}": v for k, v in sorted(r.by_status.items())},
                    **{f"{stage}_{m}_hours": v for stage, ms in r.hours.items() for m, v in ms.items() if m != "n"},
                }
                for r in rows
            ),
            "funnel.csv",
        )
    return [asdict(r) for r in rows]


@router.get(
    "/stats/staff",
    responses=CSV,
    summary="Per agency: who acted on what, by staff pseudonym (the agency's systems: null)",
    description="For each person of the agency who acted through their own staff account (a pseudonym; the name"
    " stays with the agency, for its supervisors), the number of each kind of event and of referrals, and when"
    " they last acted. The agency's own systems (machine credentials) are the row without a pseudonym.",
)
def staff_stats(
    caller: CallerDep,
    db: Db,
    agency: Annotated[str, Query(pattern=AGENCY_CODE_PATTERN, description="An agency code, e.g. BAPAS-JAKTIM")],
    format: Format = "json",
) -> Any:
    rows = staff_actions(db, agency=agency, scope=caller.region_scope)
    if format == "csv":
        kinds = sorted({kind for r in rows for kind in r["actions"]})  # the same columns on every row
        return csv_response(
            (
                {
                    "actor_staff": r["actor_staff"] or "",
                    "referrals": r["referrals"],
                    "last_acted_at": r["last_acted_at"].isoformat(),
                    **{f"events_{kind}": r["actions"].get(kind, 0) for kind in kinds},
                }
                for r in rows
            ),
            f"staff-{agency}.csv",
        )
    return [{**r, "last_acted_at": r["last_acted_at"].isoformat()} for r in rows]


@router.get(
    "/stats/pathways",
    responses=CSV,
    summary="Per pathway template and region: started, completed, days from the anchor to the first service,"
    " follow-up outcomes",
)
def pathway_stats(
    caller: CallerDep,
    db: Db,
    template: Annotated[str | None, Query(max_length=60, pattern=r"^[a-z][a-z0-9_]*$")] = None,
    region: RegionQ = None,
    format: Format = "json",
) -> Any:
    steps, checks = pathway_rows(db, template=template, region=region, scope=caller.region_scope)
    rows = pathway_figures(steps, checks)
    if format == "csv":
        return csv_response(
            (
                {
                    **{k: v for k, v in asdict(r).items() if k != "follow_ups"},
                    **{  # the same columns in every row: each check and outcome, 0 when none was recorded
                        f"follow_up_{m}m_{o.value}": r.follow_ups.get(str(m), {}).get(o.value, 0)
                        for m in FOLLOW_UP_MONTHS
                        for o in FollowUpOutcome
                    },
                }
                for r in rows
            ),
            "pathways.csv",
        )
    return [asdict(r) for r in rows]


@router.get("/stats/indicators/354", responses=CSV, summary="Satu Data indicator 354 per region and period")
def indicator(caller: CallerDep, db: Db, period: PeriodQ, region: RegionQ = None, format: Format = "json") -> Any:
    try:
        start, end = parse_period(period)
    except ValueError as exc:
        raise InvalidQuery(str(exc)) from exc
    values = [
        v.published()
        for v in indicator_354(
            indicator_rows(db, start=start, end=end, region=region, scope=caller.region_scope), start=start, end=end
        )
    ]
    if format == "csv":
        return csv_response(({"period": period, **v} for v in values), f"indicator-354-{period}.csv")
    return {
        "indicator": 354,
        "name": "Cakupan layanan reintegrasi sosial bagi perempuan dan anak korban kekerasan",
        "unit": "percent",
        "period": period,
        "values": values,
    }


@router.get(
    "/stats/capacity",
    response_model=CapacityView,
    responses=CSV,
    summary="The service directory's capacity per province and service type, with its entries",
)
def directory_capacity(
    _: CallerDep, db: Db, service_type: ServiceType | None = None, format: Format = "json"
) -> CapacityView | Response:
    view = capacity_view(db, service_type=service_type)
    if format == "csv":
        return csv_response(
            (
                {
                    **cell.model_dump(exclude={"waitlists"}),
                    **{f"full_waitlist_{band.value}": cell.waitlists.get(band.value, 0) for band in Waitlist},
                }
                for cell in view.cells
            ),
            "capacity.csv",
        )
    return view


@router.get(
    "/stream",
    summary="Server-sent events: the referral ids of every change",
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def stream(caller: CallerDep, db: Db, request: Request) -> StreamingResponse:
    hub = request.app.state.hub
    scope = caller.region_scope

    async def events() -> AsyncIterator[str]:
        yield "retry: 3000\n\n"
        async for changed in hub.subscribe(heartbeat_s=HEARTBEAT_S):
            if await request.is_disconnected():
                return
            ids = await run_in_threadpool(in_scope, db, changed, scope) if changed and scope else changed
            yield f"event: change\ndata: {json.dumps({'referral_ids': ids})}\n\n" if ids else ": keep-alive\n\n"

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
