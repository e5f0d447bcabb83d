"""Routes of the service directory: agencies keep their own entries; any credential reads and matches."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from rujukan.core.http import COMMON_ERRORS, PROBLEM_CONTENT
from rujukan.core.vocabulary import ServiceType, Sex, SubjectCategory
from rujukan.referral.api.auth import Agency, Context
from rujukan.referral.commands import RegionCode
from rujukan.referral.directory import candidates, list_services, put_capacity, put_service
from rujukan.referral.directory_models import CapacityIn, DirectoryService, DirectoryServiceIn
from rujukan.referral.hsds import export_hsds
from rujukan.referral.matching import Person, rank
from rujukan.referral.receivers import ReceiverFigures

router = APIRouter(prefix="/v1/directory", tags=["directory"])
ERRORS: dict[int | str, dict[str, Any]] = {
    **COMMON_ERRORS,
    401: {"description": "No valid credential", **PROBLEM_CONTENT},
    404: {"description": "No such entry of yours", **PROBLEM_CONTENT},
    422: {"description": "The entry breaks the schema or a rule", **PROBLEM_CONTENT},
}


class DirectoryPage(BaseModel):
    items: list[DirectoryService]


class MatchItem(BaseModel):
    agency: str
    service_type: str
    name: str
    score: float
    reasons: list[dict[str, str]]
    capacity: dict[str, Any] | None


class MatchPage(BaseModel):
    items: list[MatchItem]


@router.put(
    "/services/{service_type}",
    response_model=DirectoryService,
    responses=ERRORS,
    summary="Publish or replace your agency's entry for a service type",
)
def put_entry(agency: Agency, ctx: Context, service_type: ServiceType, body: DirectoryServiceIn) -> DirectoryService:
    return put_service(ctx, agency=agency, service_type=service_type, entry=body)


@router.put(
    "/services/{service_type}/capacity",
    response_model=DirectoryService,
    responses=ERRORS,
    summary="Set how much room your agency's service has now",
)
def put_entry_capacity(agency: Agency, ctx: Context, service_type: ServiceType, body: CapacityIn) -> DirectoryService:
    return put_capacity(ctx, agency=agency, service_type=service_type, capacity=body)


@router.get("/services", response_model=DirectoryPage, responses=ERRORS, summary="Every agency's entries")
def list_entries(
    _: Agency,
    ctx: Context,
    service_type: Annotated[ServiceType | None, Query(description="Only this service type")] = None,
    region_code: Annotated[RegionCode | None, Query(description="Only entries that serve this region")] = None,
) -> DirectoryPage:
    return DirectoryPage(items=list_services(ctx, service_type=service_type, region_code=region_code))


@router.get(
    "/match",
    response_model=MatchPage,
    responses=ERRORS,
    summary="The services a person could be referred to, best first, each with why",
)
async def match(
    _: Agency,
    ctx: Context,
    request: Request,
    service_type: ServiceType,
    region_code: RegionCode | None = None,
    category: SubjectCategory | None = None,
    age: Annotated[int | None, Query(ge=0, le=130)] = None,
    sex: Sex | None = None,
    limit: Annotated[int, Query(ge=1, le=100, description="At most this many, best first")] = 20,
) -> MatchPage:
    def ranked() -> list[dict[str, Any]]:
        person = Person(
            region_code=region_code,
            category=category.value if category else None,
            age=age,
            sex=sex.value if sex and sex is not Sex.UNKNOWN else None,
        )
        entries = candidates(
            ctx, service_type=service_type, region_code=region_code, category=person.category, age=age, sex=person.sex
        )
        return [m.as_dict() for m in rank(entries, person, figures(request).get(ctx))[:limit]]

    return MatchPage.model_validate({"items": await run_in_threadpool(ranked)})


@router.get("/hsds", responses=ERRORS, summary="The whole directory as Open Referral HSDS 3.1 JSON")
def hsds(_: Agency, ctx: Context) -> dict[str, Any]:
    return export_hsds(ctx)


def figures(request: Request) -> ReceiverFigures:
    found: ReceiverFigures | None = getattr(request.app.state, "receiver_figures", None)
    if found is None:
        found = request.app.state.receiver_figures = ReceiverFigures()
    return found
