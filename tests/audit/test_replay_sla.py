"""Replay depends only on the log (issue #19 item 5): referrals created and forwarded under one SLA policy
(the demo clocks of ``rujukan up --demo``, given to the referral service and the tracker as up does), then
``audit replay --compare`` under another (the default clocks): the rebuild equals the live tracker,
because the due times travel in the events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import select

from rujukan.cli.up import DEMO_SLA_HOURS
from rujukan.core.broker import Broker
from rujukan.referral.api.app import build_context, create_app
from rujukan.referral.context import ReferralContext
from rujukan.referral.migrate import upgrade as referral_upgrade
from rujukan.referral.registry import add_agency, issue_credential
from rujukan.referral.settings import ReferralSettings
from rujukan.tracker.models import HandoffRow
from tests.audit.live import LiveTracker
from tests.kafka_helpers import own_topics
from tests.referral.conftest import AGENCIES, MASTER_KEY_B64, referral_body

pytestmark = pytest.mark.integration
LAPAS, BAPAS, KEMENSOS, _ = (a.code for a in AGENCIES)


def drive(client: TestClient, headers: dict[str, dict[str, str]]) -> int:
    """Referrals of every urgency, one forwarded (its child has clocks of its own), one answered late by
    the demo clocks; the number of referrals created."""

    def create(urgency: str) -> str:
        body = referral_body(to_agency=BAPAS, service_type="supervision", urgency=urgency)
        answer = client.post("/v1/referrals", json=body, headers=headers[LAPAS])
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    def act(referral_id: str, action: str, **body: str) -> None:
        answer = client.post(f"/v1/referrals/{referral_id}/{action}", json=body, headers=headers[BAPAS])
        assert answer.status_code == 200, answer.text

    for urgency in ("emergency", "urgent", "routine"):
        create(urgency)
    act(create("emergency"), "forward", to_agency=KEMENSOS, reason_code="referred_elsewhere")
    act(create("urgent"), "acknowledge")
    return 6


@pytest.fixture
def referral_settings(broker: Broker, tmp_path: Path) -> ReferralSettings:
    return ReferralSettings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        referral_database_url=f"sqlite:///{tmp_path / 'referral.db'}",
        relay_in_process=False,
        master_key=SecretStr(MASTER_KEY_B64),
        kafka_bootstrap=broker.bootstrap,
        topics=own_topics(),
        sla_hours=DEMO_SLA_HOURS,
    )


@pytest.fixture
def ctx(referral_settings: ReferralSettings) -> Iterator[ReferralContext]:
    context = build_context(referral_settings)
    referral_upgrade(context.engine)
    for agency in AGENCIES:
        add_agency(context, agency=agency)
    yield context
    context.engine.dispose()


def test_a_replay_under_another_sla_policy_rebuilds_exactly_the_live_due_times(
    referral_settings: ReferralSettings, ctx: ReferralContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = LiveTracker.beside(
        tmp_path, referral_settings.kafka_bootstrap, referral_settings.topics, sla_hours=DEMO_SLA_HOURS
    )
    headers = {
        a.code: {"Authorization": f"Bearer {issue_credential(ctx, agency_code=a.code).secret}"} for a in AGENCIES
    }
    with TestClient(create_app(referral_settings, context=ctx)) as client:
        referrals = drive(client, headers)
    events = tracker.sync(ctx, referral_settings)
    with tracker.db.read() as session:  # the live tracker holds the demo clocks: the policies really differ
        emergency = session.exec(select(HandoffRow).where(HandoffRow.urgency == "emergency")).all()
    assert len(emergency) == 3  # two created, and the forward's child
    assert all(row.ack_due_at is not None for row in emergency)
    assert {row.ack_due_at - row.created_at for row in emergency if row.ack_due_at} == {dt.timedelta(hours=0.02)}

    monkeypatch.delenv("RUJUKAN_SLA_HOURS", raising=False)  # the auditor's setting: the default clocks
    report, result = tracker.replay(tmp_path, monkeypatch)
    assert report["differences"] == [], result.output
    assert (report["counts"]["events"], report["counts"]["referrals"]) == (events, referrals)
    assert result.exit_code == 0, result.output
    tracker.close()
