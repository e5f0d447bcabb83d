"""A pathway through the whole log (issue #24): its planned steps reach the tracker as planned, without SLA
clocks; a step sent on its day (injected clock) starts its clocks there; the notifier's routing tells the
receiver ``referral.planned`` and then ``referral.requested``; and ``audit replay --compare`` rebuilds the
tracker exactly from the log, ReferralCreated v4, ReferralSent and FollowUpRecorded included."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func
from sqlmodel import select
from typer.testing import CliRunner

from rujukan.cli.main import app
from rujukan.core.broker import Broker
from rujukan.core.codec import EventCodec
from rujukan.core.db import Database, make_engine
from rujukan.core.vocabulary import AgencyKind
from rujukan.notifier.routing import webhook_type
from rujukan.referral.api.app import create_app
from rujukan.referral.context import ReferralContext
from rujukan.referral.migrate import upgrade as referral_upgrade
from rujukan.referral.models import ReferralEvent
from rujukan.referral.pathways import bundled_templates, load_templates, send_due, templates_from_files
from rujukan.referral.registry import AgencyIn, add_agency, issue_credential
from rujukan.referral.relay import referral_loops
from rujukan.referral.settings import ReferralSettings
from rujukan.tracker.migrate import upgrade as tracker_upgrade
from rujukan.tracker.models import HandoffRow, HistoryRow
from rujukan.tracker.settings import TrackerSettings
from tests.audit.test_replay_sla import events_stored
from tests.kafka_helpers import own_topics
from tests.referral.conftest import AGENCIES, MASTER_KEY_B64
from tests.referral.test_pathways import (
    ANCHOR,
    BAPAS,
    CSO,
    LAPAS,
    SENTRA,
    T0,
    Clock,
    complete_every_step,
    start_body,
)
from tests.tracker.running import running, wait_for

pytestmark = pytest.mark.integration


def rows_in_order(started: Any) -> list[str]:
    return [step["id"] for step in started.json()["steps"]]


def test_a_pathway_is_tracked_planned_then_sent_and_the_replay_rebuilds_it_exactly(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = own_topics()
    settings = ReferralSettings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        referral_database_url=f"sqlite:///{tmp_path / 'referral.db'}",
        relay_in_process=False,
        master_key=SecretStr(MASTER_KEY_B64),
        kafka_bootstrap=broker.bootstrap,
        topics=topics,
    )
    clock = Clock(T0)
    engine = make_engine(settings.database_url())
    referral_upgrade(engine)
    ctx = ReferralContext(
        engine=engine, master_key=settings.load_master_key(), signing=settings.load_signing_keys(), clock=clock
    )
    for agency in [*AGENCIES, AgencyIn(code=CSO, name="Yayasan Karya", kind=AgencyKind.CSO, region_code="31.75")]:
        add_agency(ctx, agency=agency)
    load_templates(ctx, templates_from_files(bundled_templates()))
    tracker_url = f"sqlite:///{tmp_path / 'tracker.db'}"
    tracker_settings = TrackerSettings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        tracker_database_url=tracker_url,
        kafka_bootstrap=broker.bootstrap,
        tracker_group_id=f"{topics.referral_events}.tracker",
        topics=topics,
    )
    tracker_engine = make_engine(tracker_url)
    tracker_upgrade(tracker_engine)
    tracker_db = Database(tracker_engine)
    headers = {
        code: {"Authorization": f"Bearer {issue_credential(ctx, agency_code=code).secret}"}
        for code in (LAPAS, BAPAS, SENTRA, CSO)
    }
    with TestClient(create_app(settings, context=ctx)) as client:
        started = client.post(
            "/v1/pathway-templates/conditional_release/start", json=start_body(), headers=headers[LAPAS]
        )
    assert started.status_code == 201, started.text
    supervision, rehabilitation, employment = (step["id"] for step in started.json()["steps"])
    clock.now = dt.datetime.combine(ANCHOR, dt.time(1, 0), dt.UTC)
    assert send_due(ctx) == 1  # release day: the rehabilitation step goes out

    def history() -> int:
        with tracker_db.read() as session:
            return int(session.exec(select(func.count()).select_from(HistoryRow)).one())

    def synced() -> int:
        """Relay the event store and let the tracker apply all of it; how many events there are."""
        events, _ = events_stored(ctx)
        loops = referral_loops(ctx, settings).start()
        try:
            with running(tracker_db, tracker_settings):
                wait_for(lambda: events_stored(ctx)[1] == 0 and history() == events)
        finally:
            loops.stop()
        return events

    synced()
    with tracker_db.read() as session:
        rows = {row.referral_id: row for row in session.exec(select(HandoffRow)).all()}
    assert rows[employment].status == "planned"
    assert (rows[employment].ack_due_at, rows[employment].respond_due_at) == (None, None)  # no clocks yet
    assert rows[employment].planned_for == dt.datetime.combine(ANCHOR + dt.timedelta(days=30), dt.time(1), dt.UTC)
    assert rows[rehabilitation].status == "requested"
    assert rows[rehabilitation].sent_at == clock.now
    assert rows[rehabilitation].ack_due_at == clock.now + dt.timedelta(days=3)  # routine: 72 h from the send
    assert rows[supervision].sent_at is None  # sent at once when the pathway started: created requested
    assert {row.pathway_step for row in rows.values()} == {"supervision", "rehabilitation", "employment"}
    assert {row.case_id for row in rows.values()} == {started.json()["case_id"]}

    # every step completed, then the 3-month follow-up (FollowUpRecorded) on the step completed last
    with TestClient(create_app(settings, context=ctx)) as client:
        steps = [client.get(f"/v1/referrals/{i}", headers=headers[LAPAS]).json() for i in rows_in_order(started)]
        complete_every_step(client, headers, steps)
        clock.now += dt.timedelta(days=92)
        recorded = client.post(
            f"/v1/referrals/{employment}/follow-ups",
            json={"checkpoint_months": 3, "outcome": "employed"},
            headers=headers[LAPAS],
        )
        assert recorded.status_code == 201, recorded.text
    events = synced()
    with tracker_db.read() as session:
        check = session.exec(select(HistoryRow).where(HistoryRow.event_type == "FollowUpRecorded")).one()
        last = session.exec(select(HandoffRow).where(HandoffRow.referral_id == employment)).one()
    assert (check.referral_id, check.checkpoint_months, check.outcome) == (employment, 3, "employed")
    assert (check.actor_agency, check.status_after) == (LAPAS, "completed")
    assert last.pathway_anchor_date == ANCHOR

    codec = EventCodec()
    with ctx.read() as session:
        records = [codec.decode(row.payload).record for row in session.exec(select(ReferralEvent)).all()]
    told = {(str(r["referral_id"]), webhook_type(r)) for r in records}
    assert (rehabilitation, "referral.planned") in told
    assert (rehabilitation, "referral.requested") in told
    assert (employment, "referral.planned") in told
    assert (employment, "referral.follow_up_recorded") in told

    monkeypatch.setenv("RUJUKAN_KAFKA_BOOTSTRAP", broker.bootstrap)
    monkeypatch.setenv("RUJUKAN_TOPICS__REFERRAL_EVENTS", topics.referral_events)
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        ["audit", "replay", "--compare", tracker_url, "--report", str(report_path), "--data-dir", str(tmp_path)],
    )
    report = json.loads(report_path.read_text())
    assert report["differences"] == [], result.output
    assert report["violations"] == [], result.output
    assert (report["counts"]["events"], report["counts"]["referrals"]) == (events, 3)
    assert report["counts"]["rebuilt_handoffs"] == 3
    assert result.exit_code == 0, result.output
    ctx.close()
    engine.dispose()
    tracker_engine.dispose()
