"""The referral service writes the SLA due times of the policy in force into every ReferralCreated event
it stores: a new referral's, and a forward's child (whose clocks start when it is forwarded)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from rujukan.core.codec import EventCodec
from rujukan.core.sla import SlaPolicy
from rujukan.referral.api.app import create_app
from rujukan.referral.context import ReferralContext
from rujukan.referral.models import ReferralEvent
from rujukan.referral.settings import ReferralSettings
from tests.referral.conftest import Agencies, referral_body

CODEC = EventCodec()
LAPAS, BAPAS, KEMENSOS = "LAPAS-CIPINANG", "BAPAS-JAKTIM", "KEMENSOS-HANDAYANI"
H = dt.timedelta(hours=1)
POLICY = SlaPolicy(
    clocks={"emergency": (0.5 * H, 2 * H), "urgent": (3 * H, 9 * H), "routine": (10 * H, 20 * H)},
    overrides={("urgent", "supervision"): (5 * H, 11 * H)},
)


@pytest.fixture
def client(settings: ReferralSettings, ctx: ReferralContext) -> Iterator[TestClient]:
    with TestClient(create_app(settings, context=dataclasses.replace(ctx, sla=POLICY))) as test_client:
        yield test_client


def created_event(ctx: ReferralContext, referral_id: str) -> dict[str, Any]:
    with ctx.read() as session:
        payload = session.exec(
            select(ReferralEvent.payload)
            .where(col(ReferralEvent.referral_id) == referral_id)
            .where(col(ReferralEvent.seq) == 1)
        ).one()
    decoded = CODEC.decode(payload)
    assert (decoded.event_type, decoded.writer.version) == ("ReferralCreated", 5)
    return decoded.record


def clocks(event: dict[str, Any]) -> tuple[dt.timedelta, dt.timedelta]:
    """How long after the event each clock falls due."""
    return event["ack_due_at"] - event["occurred_at"], event["respond_due_at"] - event["occurred_at"]


@pytest.mark.parametrize(
    ("urgency", "service_type", "expected"),
    [("emergency", "supervision", (0.5 * H, 2 * H)), ("urgent", "supervision", (5 * H, 11 * H))],
)
def test_a_new_referral_carries_the_due_times_of_the_policy_in_force(
    client: TestClient,
    agencies: Agencies,
    ctx: ReferralContext,
    urgency: str,
    service_type: str,
    expected: tuple[dt.timedelta, dt.timedelta],
) -> None:
    body = referral_body(urgency=urgency, service_type=service_type)
    answer = client.post("/v1/referrals", json=body, headers=agencies[LAPAS])
    assert answer.status_code == 201, answer.text
    assert clocks(created_event(ctx, answer.json()["id"])) == expected


def test_a_forward_s_child_carries_due_times_from_the_moment_it_is_forwarded(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    parent = client.post("/v1/referrals", json=referral_body(urgency="routine"), headers=agencies[LAPAS]).json()
    forwarded = client.post(
        f"/v1/referrals/{parent['id']}/forward",
        json={"to_agency": KEMENSOS, "reason_code": "referred_elsewhere"},
        headers=agencies[BAPAS],
    )
    assert forwarded.status_code == 200, forwarded.text
    with ctx.read() as session:
        child_id = session.exec(
            select(ReferralEvent.referral_id)
            .where(col(ReferralEvent.event_type) == "ReferralCreated")
            .where(col(ReferralEvent.referral_id) != parent["id"])
        ).one()
    child, first = created_event(ctx, child_id), created_event(ctx, parent["id"])
    assert clocks(child) == (10 * H, 20 * H)
    assert child["occurred_at"] > first["occurred_at"]  # the child's clocks start at the forward
