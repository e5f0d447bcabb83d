"""A pathway through the whole log (issue #24): its planned steps reach the tracker as planned, without SLA
clocks; a step sent on its day (injected clock) starts its clocks there; the notifier's routing tells the
receiver ``referral.planned`` and then ``referral.requested``; and ``audit replay --compare`` rebuilds the
tracker exactly from the log, ReferralCreated v4, ReferralSent and FollowUpRecorded included."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import select

from rujukan.core.broker import Broker
from rujukan.core.codec import EventCodec
from rujukan.core.db import make_engine
from rujukan.core.vocabulary import AgencyKind
from rujukan.notifier.routing import webhook_type
from rujukan.referral.api.app import create_app
from rujukan.referral.context import ReferralContext
from rujukan.referral.migrate import upgrade as referral_upgrade
from rujukan.referral.models import ReferralEvent
from rujukan.referral.pathways import bundled_templates, load_templates, send_due, templates_from_files
from rujukan.referral.registry import AgencyIn, add_agency, issue_credential
from rujukan.referral.settings import ReferralSettings
from rujukan.tracker.models import HandoffRow, HistoryRow
from tests.audit.live import LiveTracker
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
    start,
)

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
    tracker = LiveTracker.beside(tmp_path, broker.bootstrap, topics)
    headers = {
        code: {"Authorization": f"Bearer {issue_credential(ctx, agency_code=code).secret}"}
        for code in (LAPAS, BAPAS, SENTRA, CSO)
    }
    with TestClient(create_app(settings, context=ctx)) as client:
        started = start(client, headers)
    assert started.status_code == 201, started.text
    supervision, rehabilitation, employment = (step["id"] for step in started.json()["steps"])
    clock.now = dt.datetime.combine(ANCHOR, dt.time(1, 0), dt.UTC)
    assert send_due(ctx) == 1  # release day: the rehabilitation step goes out

    tracker.sync(ctx, settings)
    with tracker.db.read() as session:
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
    events = tracker.sync(ctx, settings)
    with tracker.db.read() as session:
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

    report, result = tracker.replay(tmp_path, monkeypatch)
    assert report["differences"] == [], result.output
    assert report["violations"] == [], result.output
    assert (report["counts"]["events"], report["counts"]["referrals"]) == (events, 3)
    assert report["counts"]["rebuilt_handoffs"] == 3
    assert result.exit_code == 0, result.output
    ctx.close()
    engine.dispose()
    tracker.close()
