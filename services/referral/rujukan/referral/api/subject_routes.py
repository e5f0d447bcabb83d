"""Routes on subjects: the data subject's rights and erasure, each by the caller's alias of the subject."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from rujukan.core.http import PROBLEM_CONTENT
from rujukan.referral.api.auth import Agency, Context
from rujukan.referral.api.routes import ERRORS
from rujukan.referral.commands import Correction
from rujukan.referral.record_page import record_page
from rujukan.referral.rights import (
    RightExercised,
    SubjectRecord,
    correct_subject,
    restrict,
    subject_record,
    withdraw_consent,
)
from rujukan.referral.subjects import Erasure, erase_subject

router = APIRouter(prefix="/v1/subjects")
CONTROLLER: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    403: {"description": "Another agency controls this subject (it made the referral): ask it", **PROBLEM_CONTENT},
    409: {"description": "The subject was erased, is held, or the request conflicts with its data", **PROBLEM_CONTENT},
}
HTML: dict[int | str, dict[str, Any]] = {200: {"content": {"text/html": {"schema": {"type": "string"}}}}}


@router.get(
    "/{subject_id}/record",
    response_model=SubjectRecord,
    responses={**ERRORS, **HTML, 409: CONTROLLER[409]},
    summary="Right of access: everything you hold about the subject (JSON, or a printable page)",
)
def record(
    agency: Agency,
    ctx: Context,
    subject_id: str,
    format: Annotated[Literal["json", "html"], Query(description="html: a printable page (Bahasa Indonesia)")] = "json",
) -> Any:
    found = subject_record(ctx, agency=agency, subject_id=subject_id)
    if format == "html":
        return HTMLResponse(record_page(found), headers={"Cache-Control": "no-store"})
    return found


@router.post(
    "/{subject_id}/correct",
    response_model=RightExercised,
    responses=CONTROLLER,
    summary="Right to rectification: correct the subject's identifying data",
)
def correct(agency: Agency, ctx: Context, subject_id: str, body: Correction) -> RightExercised:
    return correct_subject(ctx, agency=agency, subject_id=subject_id, correction=body)


@router.post(
    "/{subject_id}/withdraw-consent",
    response_model=RightExercised,
    responses=CONTROLLER,
    summary="Consent withdrawn: the subject's open referrals that rest on consent are cancelled",
)
def consent_withdrawn(agency: Agency, ctx: Context, subject_id: str) -> RightExercised:
    return withdraw_consent(ctx, agency=agency, subject_id=subject_id)


@router.post(
    "/{subject_id}/restrict",
    response_model=RightExercised,
    responses=CONTROLLER,
    summary="Right to restriction: no other agency views or acts on the subject's referrals until lifted",
)
def restrict_processing(agency: Agency, ctx: Context, subject_id: str) -> RightExercised:
    return restrict(ctx, agency=agency, subject_id=subject_id, active=True)


@router.post(
    "/{subject_id}/lift-restriction", response_model=RightExercised, responses=CONTROLLER, summary="Lift a restriction"
)
def lift_restriction(agency: Agency, ctx: Context, subject_id: str) -> RightExercised:
    return restrict(ctx, agency=agency, subject_id=subject_id, active=False)


@router.post(
    "/{subject_id}/erase",
    response_model=Erasure,
    responses={**CONTROLLER, 409: {"description": "A legal hold blocks erasure", **PROBLEM_CONTENT}},
    summary="Erase a subject you control (crypto-shredding)",
)
def erase(agency: Agency, ctx: Context, subject_id: str) -> Erasure:
    return erase_subject(ctx, agency=agency, subject_id=subject_id)
