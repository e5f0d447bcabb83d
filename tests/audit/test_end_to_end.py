"""The whole path, then the audit: referrals over HTTP, the relay, the broker, the tracker; a broker restart
that empties the log and a republish; then a replay that finds the log clean and rebuilds exactly what the
live tracker holds (and names a difference when the tracker's database is changed behind its back)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, text
from sqlmodel import col, select
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
from rujukan.tracker.models import HistoryRow
from rujukan.tracker.settings import TrackerSettings
from tests.brokers import own_broker
from tests.databases import BACKENDS, database_url
from tests.kafka_helpers import own_topics, read_topic
from tests.referral.conftest import AGENCIES, MASTER_KEY_B64, referral_body
from tests.tracker.running import running, wait_for

pytestmark = pytest.mark.integration
LAPAS, BAPAS, KEMENSOS, RSUD = (a.code for a in AGENCIES)


@pytest.fixture(params=BACKENDS)
def tracker_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(str(request.param), tmp_path) as url:
        yield url


@pytest.fixture
def restartable_broker(tmp_path: Path) -> Iterator[Broker]:
    with own_broker(tmp_path) as broker:
        yield broker


def drive_journeys(client: TestClient, headers: dict[str, dict[str, str]]) -> int:
    """A mix of journeys over the HTTP API; the number of referrals created (forwards included)."""

    def act(referral_id: str, action: str, by: str, **body: str) -> None:
        answer = client.post(f"/v1/referrals/{referral_id}/{action}", json=body, headers=headers[by])
        assert answer.status_code == 200, answer.text

    def create(to: str, service: str) -> str:
        answer = client.post(
            "/v1/referrals", json=referral_body(to_agency=to, service_type=service), headers=headers[LAPAS]
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    created = 0
    for index in range(8):
        referral_id = create(BAPAS, "supervision")
        created += 1
        act(referral_id, "acknowledge", BAPAS)
        if index % 4 == 0:
            act(referral_id, "reject", BAPAS, reason_code="out_of_area")
        elif index % 4 == 1:
            act(referral_id, "forward", BAPAS, to_agency=KEMENSOS, reason_code="referred_elsewhere")
            created += 1
        elif index % 4 == 2:
            act(referral_id, "accept", BAPAS)
            act(referral_id, "note", LAPAS, note="Jadwal wajib lapor disepakati")
            act(referral_id, "start", BAPAS)
            act(referral_id, "complete", BAPAS, outcome="goals_met")
        else:
            act(referral_id, "cancel", LAPAS, reason_code="duplicate")
    create(RSUD, "health_care")  # left requested
    return created + 1


def unpublished(ctx: ReferralContext) -> int:
    with ctx.read() as session:
        query = select(func.count()).select_from(ReferralEvent).where(col(ReferralEvent.published_at).is_(None))
        return int(session.exec(query).one())


def test_after_a_run_and_a_broker_restart_the_log_is_clean_and_the_rebuild_matches_the_tracker(
    restartable_broker: Broker, tracker_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = own_topics()
    referral_settings = ReferralSettings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        referral_database_url=f"sqlite:///{tmp_path / 'referral.db'}",
        relay_in_process=False,
        master_key=SecretStr(MASTER_KEY_B64),
        kafka_bootstrap=restartable_broker.bootstrap,
        topics=topics,
    )
    tracker_settings = TrackerSettings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        tracker_database_url=tracker_url,
        kafka_bootstrap=restartable_broker.bootstrap,
        tracker_group_id=f"{topics.referral_events}.tracker",
        topics=topics,
    )
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
    headers = {
        a.code: {"Authorization": f"Bearer {issue_credential(ctx, agency_code=a.code).secret}"} for a in AGENCIES
    }
    tracker_engine = make_engine(tracker_url)
    tracker_upgrade(tracker_engine)
    tracker_db = Database(tracker_engine)

    with TestClient(create_app(referral_settings, context=ctx)) as client:
        referrals = drive_journeys(client, headers)
    with ctx.read() as session:
        events = session.exec(select(func.count()).select_from(ReferralEvent)).one()
    relay = referral_loops(ctx, referral_settings).start()  # as the service runs it: it rebuilds after Kafka errors

    def tracker_history() -> int:
        with tracker_db.read() as session:
            return int(session.exec(select(func.count()).select_from(HistoryRow)).one())

    with running(tracker_db, tracker_settings):
        wait_for(lambda: unpublished(ctx) == 0 and tracker_history() == events)
        restartable_broker.restart()  # embedded: the log is gone and the relay refills it; Kafka: it stays
        republished = read_topic(tracker_settings, topics.referral_events, expected=events, timeout=60)
        assert len({dict(r.headers)["event_id"] for r in republished}) == events  # at least once: copies may come
        wait_for(lambda: unpublished(ctx) == 0)
    relay.stop()

    monkeypatch.setenv("RUJUKAN_KAFKA_BOOTSTRAP", restartable_broker.bootstrap)
    monkeypatch.setenv("RUJUKAN_TOPICS__REFERRAL_EVENTS", topics.referral_events)
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(
        app, ["audit", "replay", "--compare", tracker_url, "--report", str(report_path), "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert (report["counts"]["events"], report["counts"]["referrals"]) == (events, referrals)
    assert (report["violations"], report["differences"]) == ([], [])
    assert "0 differences" in result.output

    with tracker_engine.begin() as connection:  # a projection that no longer says what the log says
        changed = connection.execute(
            text("UPDATE handoffs SET status = 'accepted' WHERE to_agency = 'RSUD-KRAMATJATI' RETURNING referral_id")
        ).scalar_one()
    result = CliRunner().invoke(
        app, ["audit", "replay", "--compare", tracker_url, "--report", str(report_path), "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output
    assert json.loads(report_path.read_text())["differences"] == [
        {"table": "handoffs", "key": changed, "kind": "differs", "columns": ["status"]}
    ]
    tracker_engine.dispose()
    engine.dispose()
