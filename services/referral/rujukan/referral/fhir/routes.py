"""The FHIR R4 endpoint at ``/fhir/r4``: the same credentials, the same authorisation and the same use
cases as ``/v1``, spoken as Task, ServiceRequest and Patient (see ``resources`` and ``intake``).

A referral made through either API is readable and answerable through both.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Header, Query, Request
from starlette.concurrency import run_in_threadpool

from rujukan.core.http import COMMON_ERRORS
from rujukan.core.lifecycle import Status
from rujukan.core.vocabulary import AGENCY_CODE_PATTERN
from rujukan.referral.act import act_unit
from rujukan.referral.api.auth import Agency, Context
from rujukan.referral.api.routes import referral_id_of
from rujukan.referral.context import ReferralContext
from rujukan.referral.create import create_unit
from rujukan.referral.errors import InvalidRequest, NotFound, VersionMismatch
from rujukan.referral.fhir import codes, intake, resources
from rujukan.referral.fhir.outcome import FHIR_JSON, FhirResponse
from rujukan.referral.queries import UpdatedBound, get_referral, latest_view_of_subject, search_views
from rujukan.referral.registry import get_agency
from rujukan.referral.views import ReferralView

BASE = "/fhir/r4"
router = APIRouter(prefix=BASE, tags=["FHIR R4"], default_response_class=FhirResponse)
FHIR_CONTENT: dict[str, Any] = {"content": {FHIR_JSON: {}}}
OUTCOME = {"description": "An OperationOutcome", **FHIR_CONTENT}
ERRORS: dict[int | str, dict[str, Any]] = {
    **{status: {**answer, **FHIR_CONTENT} for status, answer in COMMON_ERRORS.items()},
    401: {**OUTCOME, "description": "No valid credential"},
    404: {**OUTCOME, "description": "No such resource, or not yours (the two look the same)"},
    406: {**OUTCOME, "description": "Only JSON is served"},
    415: {**OUTCOME, "description": "Bodies must be JSON"},
    422: {**OUTCOME, "description": "The request breaks FHIR's or Rujukan's rules"},
    409: {
        **OUTCOME,
        "description": "Not allowed now (says what is allowed), or the subject's processing is restricted",
    },
}
UPDATE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    412: {**OUTCOME, "description": "If-Match names a version that is no longer current"},
}
AGENCY_CODE = re.compile(AGENCY_CODE_PATTERN)
PARAMETER_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,40}")
TASK_SEARCH = frozenset({"owner", "requester", "status", "_lastUpdated", "_count", "_cursor", "_format"})
IdempotencyKey = Annotated[
    str | None,
    Header(
        max_length=200, description="Retries with the same key and body return the first answer and change nothing."
    ),
]


def answer(body: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None) -> FhirResponse:
    return FhirResponse(body, status_code=status, headers=headers)


def versioned(resource: dict[str, Any]) -> FhirResponse:
    return answer(
        resource,
        headers={"ETag": f'W/"{resource["meta"]["versionId"]}"'} if "versionId" in resource.get("meta", {}) else None,
    )


@router.get("/metadata", summary="The CapabilityStatement (FHIR 4.0.1, JSON)", responses=ERRORS)
def metadata() -> FhirResponse:
    return answer(capability_statement())


@router.post(
    "",
    summary="Refer through a transaction Bundle: a Patient, a ServiceRequest and a Task (intent order)",
    responses=ERRORS,
)
@router.post("/", include_in_schema=False)  # the base URL with its slash, as FHIR clients post to it
async def transaction(
    agency: Agency,
    ctx: Context,
    http: Request,
    bundle: Annotated[dict[str, Any], Body()],
    idempotency_key: IdempotencyKey = None,
) -> FhirResponse:
    entries = intake.read_bundle(bundle)
    request = intake.create_request(entries, agency=agency)
    key = idempotency_key
    if key is None and entries.if_none_exist is not None:  # keyed: it may name the person (a NIK identifier)
        key = "ifNoneExist:" + ctx.master_key.fingerprint(entries.if_none_exist.encode())[:40]
    created = await ctx.writer.run_async(create_unit(ctx, agency=agency, request=request, idempotency_key=key))
    view = await run_in_threadpool(get_referral, ctx, agency=agency, referral_id=created.referral.id)
    made = {
        entries.patient[0]: resources.patient(view),
        entries.service_request[0]: resources.service_request(view),
        entries.task[0]: resources.task(view),
    }
    outcome = "200 OK" if created.replayed else "201 Created"
    response_entries = []
    base = base_url(http)
    for index in sorted(made):
        resource = made[index]
        location = f"{resource['resourceType']}/{resource['id']}"
        answered: dict[str, Any] = {"status": outcome, "lastModified": resource["meta"]["lastUpdated"]}
        if "versionId" in resource["meta"]:
            answered["etag"] = f'W/"{resource["meta"]["versionId"]}"'
            location += f"/_history/{resource['meta']['versionId']}"
        answered["location"] = location
        full_url = f"{base}/{resource['resourceType']}/{resource['id']}"
        response_entries.append({"fullUrl": full_url, "resource": resource, "response": answered})
    headers = {"Idempotent-Replayed": "true"} if created.replayed else None
    return answer(
        {"resourceType": "Bundle", "type": "transaction-response", "entry": response_entries}, headers=headers
    )


@router.get("/Task/{referral_id}", summary="A referral's Task (parties only)", responses=ERRORS)
def read_task(agency: Agency, ctx: Context, referral_id: str) -> FhirResponse:
    return versioned(resources.task(get_referral(ctx, agency=agency, referral_id=referral_id_of(referral_id))))


@router.get("/ServiceRequest/{referral_id}", summary="What a referral asks for (parties only)", responses=ERRORS)
def read_service_request(agency: Agency, ctx: Context, referral_id: str) -> FhirResponse:
    view = get_referral(ctx, agency=agency, referral_id=referral_id_of(referral_id))
    return versioned(resources.service_request(view))


@router.get(
    "/Patient/{subject_id}", summary="A subject, by the caller's own id of them (parties only)", responses=ERRORS
)
def read_patient(agency: Agency, ctx: Context, subject_id: str) -> FhirResponse:
    return answer(
        resources.patient(latest_view_of_subject(ctx, agency=agency, alias_id=resources.subject_alias(subject_id)))
    )


@router.get("/Organization/{code}", summary="An agency of the registry", responses=ERRORS)
def read_organization(agency: Agency, ctx: Context, code: str) -> FhirResponse:
    if not AGENCY_CODE.fullmatch(code):
        raise NotFound("no such agency")
    found = get_agency(ctx, code)
    return answer(resources.organization(found.code, found.name, found.kind.value, found.region_code))


@router.get("/CodeSystem/{code_system_id}", summary="One of Rujukan's CodeSystems", responses=ERRORS)
def read_code_system(agency: Agency, code_system_id: str) -> FhirResponse:
    if code_system_id not in codes.CODE_SYSTEMS:
        raise NotFound("no such CodeSystem")
    return answer(codes.code_system(code_system_id))


@router.get("/CodeSystem", summary="Rujukan's CodeSystems", responses=ERRORS)
def search_code_systems(agency: Agency, request: Request) -> FhirResponse:
    found = [codes.code_system(name) for name in codes.CODE_SYSTEMS]
    return answer(resources.searchset(found, base=base_url(request), self_url=str(request.url), next_url=None))


@router.get("/Task", summary="Search the caller's Tasks (either side), newest first", responses=ERRORS)
def search_tasks(
    agency: Agency,
    ctx: Context,
    request: Request,
    owner: Annotated[str | None, Query(max_length=200, description="Organization/<code>: the receiver")] = None,
    requester: Annotated[str | None, Query(max_length=200, description="Organization/<code>: the sender")] = None,
    status: Annotated[str | None, Query(max_length=300, description="Task status codes, comma-separated")] = None,
    last_updated: Annotated[
        list[str] | None,
        Query(alias="_lastUpdated", max_length=40, description="ge|gt|le|lt followed by a dateTime (repeatable)"),
    ] = None,
    count: Annotated[int, Query(alias="_count", ge=0, le=1000, description="Page size (0: none)")] = 50,
    cursor: Annotated[str | None, Query(alias="_cursor", max_length=200, description="From Bundle.link next")] = None,
    prefer: Annotated[
        str | None, Header(max_length=200, description="handling=strict refuses unknown parameters")
    ] = None,
) -> FhirResponse:
    unknown = sorted(set(request.query_params) - TASK_SEARCH)
    if unknown and prefer is not None and "handling=strict" in prefer.replace(" ", ""):
        raise InvalidRequest(f"search parameters not supported: {_named(unknown)}")
    owner_code, requester_code = _agency_param(owner, "owner"), _agency_param(requester, "requester")
    statuses, updated = _statuses(status), [bound for value in last_updated or [] for bound in _bounds(value)]
    if count == 0:  # FHIR: _count=0 asks for no entries
        return answer(resources.searchset([], base=base_url(request), self_url=str(request.url), next_url=None))
    page = search_views(
        ctx,
        agency=agency,
        owner=owner_code,
        requester=requester_code,
        statuses=statuses,
        updated=updated,
        page_size=count,
        cursor=cursor,
    )
    next_url = None
    if page.next_cursor is not None:
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "_cursor"]
        next_url = str(request.url.replace(query=urlencode([*kept, ("_cursor", page.next_cursor)])))
    tasks = [resources.task(view) for view in page.items]
    bundle = resources.searchset(tasks, base=base_url(request), self_url=str(request.url), next_url=next_url)
    if unknown:  # FHIR's default handling: ignored, and said so
        bundle["entry"].append(
            {
                "resource": resources.operation_outcome(
                    "warning", "not-supported", f"search parameters ignored: {_named(unknown)}"
                ),
                "search": {"mode": "outcome"},
            }
        )
    if page.withheld:
        bundle["entry"].append(
            {
                "resource": resources.operation_outcome(
                    "information",
                    "suppressed",
                    f"{page.withheld} Task(s) withheld: their subject's processing is restricted",
                ),
                "search": {"mode": "outcome"},
            }
        )
    return answer(bundle)


def base_url(request: Request) -> str:
    """This endpoint's absolute base, as the caller reached it (entries' fullUrl are absolute)."""
    return str(request.base_url).rstrip("/") + BASE


def _named(names: list[str]) -> str:
    """Parameter names to say back: those that look like names (the others are counted, not echoed)."""
    shown = [name for name in names if PARAMETER_NAME.fullmatch(name)]
    others = len(names) - len(shown)
    return ", ".join(shown + ([f"{others} more"] if others else []))


def _agency_param(value: str | None, name: str) -> str | None:
    """The agency code of an ``Organization/<code>`` (or bare code) search value."""
    if value is None:
        return None
    code = value.removeprefix("Organization/")
    if not AGENCY_CODE.fullmatch(code):
        raise InvalidRequest(f"{name} must be Organization/<agency code>")
    return code


def _statuses(value: str | None) -> list[Status] | None:
    if value is None:
        return None
    found: list[Status] = []
    for code in value.split(","):
        ours = [s for s, fhir in codes.TASK_STATUS.items() if fhir == code.strip()]
        if not ours:
            raise InvalidRequest(
                f"status: each code must be one of {', '.join(sorted(set(codes.TASK_STATUS.values())))}"
            )
        found.extend(ours)
    return found


def _bounds(value: str) -> list[UpdatedBound]:
    """A ``_lastUpdated`` value as bounds: a prefix (``eq`` when none) and a date or dateTime, each standing
    for its whole precision (a day, a second; dates in UTC): ``gt`` a day is from the next midnight on."""
    prefix, text = (value[:2], value[2:]) if value[:2] in ("eq", "ge", "gt", "le", "lt") else ("eq", value)
    try:
        if len(text) == 10:
            start = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=dt.UTC)
            end = start + dt.timedelta(days=1)
        else:
            start = intake.parse_instant(text, "_lastUpdated").replace(microsecond=0)
            end = start + dt.timedelta(seconds=1)
    except (ValueError, OverflowError):
        raise InvalidRequest("_lastUpdated must be a FHIR date or dateTime") from None
    return {
        "eq": [("ge", start), ("lt", end)],
        "ge": [("ge", start)],
        "gt": [("ge", end)],
        "lt": [("lt", start)],
        "le": [("lt", end)],
    }[prefix]


@router.put("/Task/{referral_id}", summary="Change a Task's status, owner (forward) or notes", responses=UPDATE_ERRORS)
async def update_task(
    agency: Agency,
    ctx: Context,
    referral_id: str,
    task: Annotated[dict[str, Any], Body()],
    idempotency_key: IdempotencyKey = None,
    if_match: Annotated[str | None, Header(max_length=100)] = None,
) -> FhirResponse:
    return await _change(ctx, agency, referral_id_of(referral_id), lambda _: task, idempotency_key, if_match)


@router.patch(
    "/Task/{referral_id}",
    summary="JSON Patch on status, statusReason, businessStatus, output, owner or note",
    responses=UPDATE_ERRORS,
)
async def patch_task(
    agency: Agency,
    ctx: Context,
    referral_id: str,
    operations: Annotated[list[dict[str, Any]], Body()],
    idempotency_key: IdempotencyKey = None,
    if_match: Annotated[str | None, Header(max_length=100)] = None,
) -> FhirResponse:
    return await _change(
        ctx,
        agency,
        referral_id_of(referral_id),
        lambda current: intake.apply_patch(current, operations),
        idempotency_key,
        if_match,
    )


async def _change(
    ctx: ReferralContext,
    agency: str,
    referral_id: str,
    wanted_of: Callable[[dict[str, Any]], Any],
    idempotency_key: str | None,
    if_match: str | None,
) -> FhirResponse:
    """The Task after the one action that turns it into what ``wanted_of`` makes of it (PUT or PATCH)."""
    view: ReferralView = await run_in_threadpool(get_referral, ctx, agency=agency, referral_id=referral_id)
    current = resources.task(view)
    expected = _expected_version(if_match)
    change = intake.change_of(current, wanted_of(current))
    if change is None:  # nothing to do: a retry (with its Idempotency-Key) of what was done is answered as done
        stale = expected is not None and str(expected) != current["meta"]["versionId"]
        if stale and idempotency_key is None:
            raise VersionMismatch("the Task changed since that version was read (If-Match)")
        return versioned(current)
    unit = act_unit(
        ctx,
        agency=agency,
        referral_id=referral_id,
        action=change.action,
        body=change.body,
        idempotency_key=idempotency_key,
        expected_version=expected,
    )
    acted = await ctx.writer.run_async(unit)
    response = versioned(resources.task(acted.view))
    if acted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _expected_version(if_match: str | None) -> int | None:
    """The version an If-Match asks for (``W/"3"`` or ``"3"``); None for none or ``*`` (any version)."""
    if if_match is None or if_match.strip() == "*":
        return None
    found = re.fullmatch(r'\s*(?:W/)?"(\d{1,18})"\s*', if_match)
    if found is None:
        raise VersionMismatch('If-Match must name one version, W/"<versionId>" (or be *)')
    return int(found.group(1))


def capability_statement() -> dict[str, Any]:
    read = [{"code": "read"}]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-03",
        "publisher": "Rujukan",
        "kind": "instance",
        "software": {"name": "Rujukan"},
        "implementation": {"description": "Rujukan referral service, FHIR R4 endpoint"},
        "fhirVersion": codes.FHIR_VERSION,
        "format": ["json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "Authorization: Bearer <agency credential> (rujukan credentials issue); an agency"
                    " reads and changes only the referrals it is party to"
                },
                "resource": [
                    {
                        "type": "Task",
                        "versioning": "versioned-update",
                        "conditionalUpdate": False,
                        "interaction": [
                            {"code": "read"},
                            {"code": "update"},
                            {"code": "patch"},
                            {"code": "search-type"},
                        ],
                        "searchParam": [
                            {"name": "owner", "type": "reference"},
                            {"name": "requester", "type": "reference"},
                            {"name": "status", "type": "token"},
                            {"name": "_lastUpdated", "type": "date"},
                        ],
                    },
                    {"type": "ServiceRequest", "interaction": read},
                    {"type": "Patient", "interaction": read},
                    {"type": "Organization", "interaction": read},
                    {"type": "CodeSystem", "interaction": [{"code": "read"}, {"code": "search-type"}]},
                ],
                "interaction": [{"code": "transaction"}],
            }
        ],
    }
