"""Routes of a pathway's follow-up checks: the tasks of the agency that started it, and recording one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from starlette.concurrency import run_in_threadpool

from rujukan.referral.api.auth import Agency, Context
from rujukan.referral.api.routes import ERRORS, referral_id_of
from rujukan.referral.follow_ups import FollowUpIn, FollowUpTask, FollowUpTasks, follow_up_tasks, follow_up_unit

router = APIRouter(prefix="/v1", tags=["pathways"])


@router.get(
    "/follow-ups",
    response_model=FollowUpTasks,
    responses=ERRORS,
    summary="Your follow-up checks of finished pathways (3, 6 and 12 months after the last step), soonest first",
)
async def tasks(agency: Agency, ctx: Context) -> FollowUpTasks:
    return await run_in_threadpool(follow_up_tasks, ctx, agency=agency)


@router.post(
    "/referrals/{referral_id}/follow-ups",
    status_code=201,
    response_model=FollowUpTask,
    responses={**ERRORS, 409: {"description": "Not yet, not yours to record, or recorded already", **ERRORS[404]}},
    summary="Record a follow-up check on the step of a pathway completed last",
)
async def record(agency: Agency, ctx: Context, referral_id: str, body: Annotated[FollowUpIn, Body()]) -> FollowUpTask:
    return await ctx.writer.run_async(
        follow_up_unit(ctx, agency=agency, referral_id=referral_id_of(referral_id), body=body)
    )
