"""Routes of the agency API. Each translates HTTP into one use-case call and the result back."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from rujukan.core.credentials import STAFF_HEADER
from rujukan.core.http import COMMON_ERRORS, PROBLEM_CONTENT
from rujukan.core.lifecycle import Action, Status
from rujukan.referral.act import act_unit
from rujukan.referral.api.auth import Agency, Context, Staff
from rujukan.referral.api.examples import ACTION_EXAMPLES, CREATE_EXAMPLES
from rujukan.referral.commands import ActionBody, CreateReferral
from rujukan.referral.create import DryRun, create_unit, dry_run
from rujukan.referral.errors import NotFound
from rujukan.referral.queries import Direction, get_referral, list_referrals
from rujukan.referral.registry import AgencyIn, get_agency
from rujukan.referral.views import ReferralSummary, ReferralView

router = APIRouter(prefix="/v1")
ERRORS: dict[int | str, dict[str, Any]] = {
    **COMMON_ERRORS,
    401: {"description": "No valid credential", **PROBLEM_CONTENT},
    404: {"description": "No such referral, or not yours (the two look the same)", **PROBLEM_CONTENT},
    422: {"description": "The request breaks the schema or a domain rule", **PROBLEM_CONTENT},
}


class ReferralPage(BaseModel):
    items: list[ReferralSummary]
    next_cursor: str | None


@router.get(
    "/me",
    response_model=AgencyIn,
    responses={401: ERRORS[401]},
    summary="The agency behind the credential",
    description="Checks a credential and tells whose it is; other Rujukan services use it to verify agency callers.",
)
def me(agency: Agency, staff: Staff, ctx: Context, response: Response) -> AgencyIn:
    if staff is not None:  # a person: other services must not cache the answer (disabling is immediate)
        response.headers[STAFF_HEADER] = staff.id
    return get_agency(ctx, agency)


def referral_id_of(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError as exc:
        raise NotFound("referral not found") from exc


@router.post(
    "/referrals",
    status_code=201,
    response_model=ReferralSummary,
    responses={**ERRORS, 200: {"model": DryRun, "description": 'With "dry_run": true: what a create would do'}},
    summary="Refer a subject to another agency (or, with dry_run, check what would happen)",
)
async def create(
    agency: Agency,
    ctx: Context,
    response: Response,
    body: Annotated[CreateReferral, Body(openapi_examples=CREATE_EXAMPLES)],
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=200, description="Retries with the same key and body return the first answer and create nothing."
        ),
    ] = None,
) -> ReferralSummary | JSONResponse:
    if body.dry_run:
        checked = await run_in_threadpool(dry_run, ctx, agency=agency, request=body)
        return JSONResponse(checked.model_dump(mode="json"), status_code=200)
    created = await ctx.writer.run_async(create_unit(ctx, agency=agency, request=body, idempotency_key=idempotency_key))
    if created.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/referrals/{created.referral.id}"
    return created.referral


@router.get("/referrals", response_model=ReferralPage, responses=ERRORS, summary="List incoming or outgoing")
def list_(
    agency: Agency,
    ctx: Context,
    direction: Annotated[Direction, Query(description="incoming: referred to you; outgoing: by you")],
    status: Annotated[list[Status] | None, Query(description="Only these statuses (repeatable)")] = None,
    page_size: Annotated[
        int, Query(ge=1, le=1000, description="At most the service's RUJUKAN_MAX_PAGE_SIZE (200 by default) are sent")
    ] = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
    pathway_id: Annotated[uuid.UUID | None, Query(description="Only the steps of this pathway")] = None,
) -> ReferralPage:
    page = list_referrals(
        ctx,
        agency=agency,
        direction=direction,
        statuses=status,
        page_size=page_size,
        cursor=cursor,
        pathway_id=str(pathway_id) if pathway_id else None,
    )
    return ReferralPage(items=page.items, next_cursor=page.next_cursor)


@router.get(
    "/referrals/{referral_id}",
    response_model=ReferralView,
    responses=ERRORS,
    summary="One referral, with the subject's data (parties only)",
)
def get(agency: Agency, ctx: Context, referral_id: str) -> ReferralView:
    return get_referral(ctx, agency=agency, referral_id=referral_id_of(referral_id))


@router.post(
    "/referrals/{referral_id}/{action}",
    response_model=ReferralView,
    responses={**ERRORS, 409: {"description": "Not allowed now; lists the allowed actions", **PROBLEM_CONTENT}},
    summary="Take a lifecycle action",
)
async def act(
    agency: Agency,
    ctx: Context,
    response: Response,
    referral_id: str,
    action: Action,
    body: Annotated[ActionBody | None, Body(openapi_examples=ACTION_EXAMPLES)] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=200,
            description="A retry with the same key and body takes nothing again and answers with the referral"
            " as it is now (Idempotent-Replayed: true); the same key with another request is refused (422).",
        ),
    ] = None,
) -> ReferralView:
    unit = act_unit(
        ctx,
        agency=agency,
        referral_id=referral_id_of(referral_id),
        action=action,
        body=body or ActionBody(),
        idempotency_key=idempotency_key,
    )
    acted = await ctx.writer.run_async(unit)
    if acted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return acted.view
