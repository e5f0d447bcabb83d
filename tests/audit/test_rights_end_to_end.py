"""The data subject's rights end to end: exercised over the agency API, published by the relay, applied by
the tracker, and replayed by the audit (clean, and the rebuild equal to the live tracker)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import func, select
from typer.testing import CliRunner

from rujukan.cli.main import app
from rujukan.core.broker import Broker
from rujukan.core.db import Database, make_engine
from rujukan.referral.api.app import create_app
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
from tests.referral.conftest import AGENCIES, MASTER_KEY_B64, SUBJECT, referral_body
from tests.tracker.running import running

pytestmark = pytest.mark.integration
LAPAS, BAPAS = "LAPAS-CIPINANG", "BAPAS-JAKTIM"
CONSENT = {"given_by": "subject", "recorded_at": "2026-11-01T09:00:00+07:00"}
RIGHTS = ("SubjectAccessed", "SubjectCorrected", "SubjectRestricted", "SubjectRestrictionLifted", "ConsentWithdrawn")


def bearer(ctx: ReferralContext, code: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_credential(ctx, agency_code=code).secret}"}


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("not in time")


def test_every_right_reaches_the_tracker_and_replays_clean(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = own_topics()
    common = {"_env_file": None, "data_dir": tmp_path / "data", "kafka_bootstrap": broker.bootstrap, "topics": topics}
    referral_settings = ReferralSettings(
        **common,  # type: ignore[arg-type]
        referral_database_url=f"sqlite:///{tmp_path / 'referral.db'}",
        relay_in_process=False,
        master_key=SecretStr(MASTER_KEY_B64),
    )
    tracker_url = f"sqlite:///{tmp_path / 'tracker.db'}"
    tracker_settings = TrackerSettings(**common, tracker_database_url=tracker_url)  # type: ignore[arg-type]
    engine = make_engine(referral_settings.database_url())
    referral_upgrade(engine)
    ctx = ReferralContext(
        engine=engine,
        master_key=referral_settings.load_master_key(),
        signing=referral_settings.load_signing_keys(),
        max_page_size=100,
    )
    for agency in AGENCIES:
        add_agency(ctx, agency=agency)
    headers = {a.code: bearer(ctx, a.code) for a in AGENCIES}

    with TestClient(create_app(referral_settings, context=ctx)) as client:
        body = referral_body(legal_basis="consent", consent=CONSENT)
        created = client.post("/v1/referrals", json=body, headers=headers[LAPAS]).json()
        body = referral_body(subject={**SUBJECT, "nik": "3175010101900002"})
        other = client.post("/v1/referrals", json=body, headers=headers[LAPAS]).json()
        subject = f"/v1/subjects/{created['subject_id']}"
        answers = [
            client.get(f"{subject}/record", headers=headers[LAPAS]),
            client.post(f"{subject}/correct", json={"birth_date": "2012-03-04"}, headers=headers[LAPAS]),
            client.post(f"{subject}/restrict", headers=headers[LAPAS]),
            client.post(f"{subject}/lift-restriction", headers=headers[LAPAS]),
            client.post(f"{subject}/withdraw-consent", headers=headers[LAPAS]),
            client.post(f"/v1/subjects/{other['subject_id']}/erase", headers=headers[LAPAS]),
        ]
        assert [a.status_code for a in answers] == [200] * len(answers), [a.text for a in answers]
    with ctx.read() as session:
        events = int(session.exec(select(func.count()).select_from(ReferralEvent)).one())

    tracker_engine = make_engine(tracker_url)
    tracker_upgrade(tracker_engine)
    tracker_db = Database(tracker_engine)
    loops = referral_loops(ctx, referral_settings).start()
    try:
        with running(tracker_db, tracker_settings):

            def applied() -> int:
                with tracker_db.read() as session:
                    return int(session.exec(select(func.count()).select_from(HistoryRow)).one())

            wait_for(lambda: applied() == events)
    finally:
        loops.stop()
    with tracker_db.read() as session:
        handoff = session.get(HandoffRow, created["id"])
        assert handoff is not None
        kinds = [h.event_type for h in session.exec(select(HistoryRow).where(HistoryRow.referral_id == created["id"]))]
        erased = session.get(HandoffRow, other["id"])
    assert (handoff.status, handoff.subject_age_band) == ("cancelled", "age_13_17")
    assert set(RIGHTS) <= set(kinds)
    assert erased is not None
    assert erased.subject_erased

    monkeypatch.setenv("RUJUKAN_KAFKA_BOOTSTRAP", broker.bootstrap)
    monkeypatch.setenv("RUJUKAN_TOPICS__REFERRAL_EVENTS", topics.referral_events)
    report = tmp_path / "report.json"
    result = CliRunner().invoke(
        app, ["audit", "replay", "--compare", tracker_url, "--report", str(report), "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    found = json.loads(report.read_text())
    assert found["counts"]["events"] == events
    assert (found["violations"], found["differences"]) == ([], [])
    tracker_engine.dispose()
    engine.dispose()
