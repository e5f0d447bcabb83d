"""Routes of pathway templates: read them, and start one for a person (its steps become referrals)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Response
from starlette.concurrency import run_in_threadpool

from rujukan.referral.api.auth import Agency, Context
from rujukan.referral.api.routes import ERRORS
from rujukan.referral.pathways import (
    PathwayTemplate,
    StartedPathway,
    StartPathway,
    get_template,
    list_templates,
    start_unit,
)

router = APIRouter(prefix="/v1/pathway-templates", tags=["pathways"])
TEMPLATE_404 = {**ERRORS, 404: {**ERRORS[404], "description": "No pathway template with this code"}}


@router.get("", response_model=list[PathwayTemplate], responses=ERRORS, summary="The pathway templates")
async def templates(agency: Agency, ctx: Context) -> list[PathwayTemplate]:
    return await run_in_threadpool(list_templates, ctx)


@router.get("/{code}", response_model=PathwayTemplate, responses=TEMPLATE_404, summary="One pathway template")
async def template(agency: Agency, ctx: Context, code: str) -> PathwayTemplate:
    return await run_in_threadpool(get_template, ctx, code)


@router.post(
    "/{code}/start",
    status_code=201,
    response_model=StartedPathway,
    responses=TEMPLATE_404,
    summary="Start the pathway for a person: every step becomes a referral, planned until its day",
    description="Each step goes to the agency named for it in `agencies`, `offset_days` after the anchor date at"
    " 08:00 WIB; a step already due is sent at once. The steps form one case, each continuing the one before."
    " Planned steps are listed with `GET /v1/referrals?status=planned` (both parties) and can be sent early"
    " (`send`) or cancelled (`cancel`) by you.",
)
async def start(
    agency: Agency,
    ctx: Context,
    response: Response,
    code: str,
    body: Annotated[StartPathway, Body()],
    idempotency_key: Annotated[
        str | None,
        Header(max_length=200, description="A retry with the same key and body answers as the first time."),
    ] = None,
) -> StartedPathway:
    started = await ctx.writer.run_async(
        start_unit(ctx, agency=agency, code=code, request=body, idempotency_key=idempotency_key)
    )
    if started.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/referrals?direction=outgoing&pathway_id={started.pathway.pathway_id}"
    return started.pathway
