"""Routes of the notifier API: the calling agency's subscription and delivery log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from rujukan.core.http import COMMON_ERRORS, PROBLEM_CONTENT
from rujukan.notifier.api.auth import Agency, Db
from rujukan.notifier.deliveries import DeliveryPage, DeliveryView, list_deliveries, redeliver
from rujukan.notifier.retry import DeliveryStatus
from rujukan.notifier.settings import NotifierSettings
from rujukan.notifier.subscriptions import (
    MAX_URL_LENGTH,
    Owner,
    OwnerKind,
    SubscriptionView,
    get_subscription,
    rotate_secret,
    set_subscription,
)

router = APIRouter(prefix="/v1")
ERRORS: dict[int | str, dict[str, Any]] = {
    **COMMON_ERRORS,
    401: {"description": "No valid credential", **PROBLEM_CONTENT},
    404: {"description": "No subscription or delivery of yours", **PROBLEM_CONTENT},
    422: {"description": "The request breaks the schema or a rule (e.g. an unsafe URL)", **PROBLEM_CONTENT},
    503: {"description": "Credentials cannot be checked or a database is unreachable; retry later", **PROBLEM_CONTENT},
}


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=MAX_URL_LENGTH, examples=["https://sidapeg.bapas-jaktim.example/rujukan/webhooks"])
    event_types: list[str] | None = Field(
        default=None, max_length=20, description="Webhook types to receive (default: every type you can hear of)."
    )


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_hours: float = Field(default=24.0, ge=0, le=24 * 30, description="How long the old secret keeps signing.")


class SubscriptionWithSecret(BaseModel):
    subscription: SubscriptionView
    secret: str = Field(description="The new signing secret (whsec_...). Shown once: store it now.")


def _settings(request: Request) -> NotifierSettings:
    settings: NotifierSettings = request.app.state.settings
    return settings


def _owner(agency: str) -> Owner:
    return Owner(OwnerKind.AGENCY, agency)


@router.get("/subscription", response_model=SubscriptionView, responses=ERRORS, summary="Your webhook subscription")
def get_(agency: Agency, db: Db) -> SubscriptionView:
    return get_subscription(db, _owner(agency))


@router.put(
    "/subscription",
    response_model=SubscriptionWithSecret,
    responses=ERRORS,
    summary="Set your webhook URL and event types (issues a new secret)",
    description="The previous secret, if any, keeps signing deliveries for the overlap window "
    "(RUJUKAN_SECRET_OVERLAP_HOURS), so a receiver can switch over without losing a delivery.",
)
def put(agency: Agency, db: Db, request: Request, body: SubscriptionIn) -> SubscriptionWithSecret:
    view, secret = set_subscription(db, _settings(request), _owner(agency), url=body.url, event_types=body.event_types)
    return SubscriptionWithSecret(subscription=view, secret=secret)


@router.post(
    "/subscription/rotate",
    response_model=SubscriptionWithSecret,
    responses=ERRORS,
    summary="Issue a new signing secret",
)
def rotate(agency: Agency, db: Db, request: Request, body: RotateIn | None = None) -> SubscriptionWithSecret:
    overlap = dt.timedelta(hours=(body or RotateIn()).overlap_hours)
    view, secret = rotate_secret(db, _owner(agency), overlap=overlap, box=_settings(request).secret_box())
    return SubscriptionWithSecret(subscription=view, secret=secret)


@router.get("/deliveries", response_model=DeliveryPage, responses=ERRORS, summary="Your delivery log, newest first")
def deliveries(
    agency: Agency,
    db: Db,
    status: DeliveryStatus | None = None,
    referral_id: Annotated[str | None, Query(max_length=36)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="next_before of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeliveryPage:
    return list_deliveries(db, owner=agency, status=status, referral_id=referral_id, before=before, limit=limit)


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryView,
    responses={**ERRORS, 409: {"description": "The delivery is still pending", **PROBLEM_CONTENT}},
    summary="Send a failed delivery again",
)
def redeliver_(agency: Agency, db: Db, delivery_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> DeliveryView:
    return redeliver(db, delivery_id, owner=agency)
