"""Replay depends only on the log (issue #19 item 5): referrals created and forwarded under one SLA policy
(the demo clocks of ``rujukan up --demo``, given to the referral service and the tracker as up does), then
``audit replay --compare`` under another (the default clocks): the rebuild equals the live tracker,
because the due times travel in the events."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func
from sqlmodel import col, select
from typer.testing import CliRunner

from rujukan.cli.main import app
from rujukan.cli.up import DEMO_SLA_HOURS
from rujukan.core.broker import Broker
from rujukan.core.db import Database, make_engine
from rujukan.referral.api.app import build_context, create_app
from rujukan.referral.context import ReferralContext
from rujukan.referral.migrate import upgrade as referral_upgrade
from rujukan.referral.models import ReferralEvent
from rujukan.referral.registry import add_agency, issue_credential
from rujukan.referral.relay import referral_loops
from rujukan.referral.settings import ReferralSettings
from rujukan.tracker.migrate import upgrade as tracker_upgrade
from rujukan.tracker.models import HandoffRow, HistoryRow
from rujukan.tracker.settings import TrackerSettings
from tests.kafka_helpers import own_topics
from tests.referral.conftest import AGENCIES, MASTER_KEY_B64, referral_body
from tests.tracker.running import running, wait_for

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


def events_stored(ctx: ReferralContext) -> tuple[int, int]:
    """All events, and those the relay has not published yet."""
    with ctx.read() as session:
        total = session.exec(select(func.count()).select_from(ReferralEvent)).one()
        unpublished = session.exec(
            select(func.count()).select_from(ReferralEvent).where(col(ReferralEvent.published_at).is_(None))
        ).one()
    return int(total), int(unpublished)


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
    topics = referral_settings.topics
    tracker_url = f"sqlite:///{tmp_path / 'tracker.db'}"
    tracker_settings = TrackerSettings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        tracker_database_url=tracker_url,
        kafka_bootstrap=referral_settings.kafka_bootstrap,
        tracker_group_id=f"{topics.referral_events}.tracker",
        topics=topics,
        sla_hours=DEMO_SLA_HOURS,
    )
    tracker_engine = make_engine(tracker_url)
    tracker_upgrade(tracker_engine)
    tracker_db = Database(tracker_engine)
    headers = {
        a.code: {"Authorization": f"Bearer {issue_credential(ctx, agency_code=a.code).secret}"} for a in AGENCIES
    }
    with TestClient(create_app(referral_settings, context=ctx)) as client:
        referrals = drive(client, headers)
    events, _ = events_stored(ctx)

    def tracker_history() -> int:
        with tracker_db.read() as session:
            return int(session.exec(select(func.count()).select_from(HistoryRow)).one())

    relay = referral_loops(ctx, referral_settings).start()
    with running(tracker_db, tracker_settings):
        wait_for(lambda: events_stored(ctx)[1] == 0 and tracker_history() == events)
    relay.stop()
    with tracker_db.read() as session:  # the live tracker holds the demo clocks: the policies really differ
        emergency = session.exec(select(HandoffRow).where(HandoffRow.urgency == "emergency")).all()
    assert len(emergency) == 3  # two created, and the forward's child
    assert all(row.ack_due_at is not None for row in emergency)
    assert {row.ack_due_at - row.created_at for row in emergency if row.ack_due_at} == {dt.timedelta(hours=0.02)}

    monkeypatch.setenv("RUJUKAN_KAFKA_BOOTSTRAP", referral_settings.kafka_bootstrap)
    monkeypatch.setenv("RUJUKAN_TOPICS__REFERRAL_EVENTS", topics.referral_events)
    monkeypatch.delenv("RUJUKAN_SLA_HOURS", raising=False)  # the auditor's setting: the default clocks
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        ["audit", "replay", "--compare", tracker_url, "--report", str(report_path), "--data-dir", str(tmp_path)],
    )
    report = json.loads(report_path.read_text())
    assert report["differences"] == [], result.output
    assert (report["counts"]["events"], report["counts"]["referrals"]) == (events, referrals)
    assert result.exit_code == 0, result.output
    tracker_engine.dispose()
