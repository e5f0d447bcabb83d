"""A live tracker beside a referral service, for tests that drive referrals, let the tracker apply the log
and then check that ``audit replay --compare`` rebuilds it exactly."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import col, select
from typer.testing import CliRunner, Result

from rujukan.cli.main import app
from rujukan.core.db import Database, make_engine
from rujukan.core.settings import KafkaTopics
from rujukan.referral.context import ReferralContext
from rujukan.referral.models import ReferralEvent
from rujukan.referral.relay import referral_loops
from rujukan.referral.settings import ReferralSettings
from rujukan.tracker.migrate import upgrade as tracker_upgrade
from rujukan.tracker.models import HistoryRow
from rujukan.tracker.settings import TrackerSettings
from tests.tracker.running import running, wait_for


def events_stored(ctx: ReferralContext) -> tuple[int, int]:
    """All events, and those the relay has not published yet."""
    with ctx.read() as session:
        total = session.exec(select(func.count()).select_from(ReferralEvent)).one()
        unpublished = session.exec(
            select(func.count()).select_from(ReferralEvent).where(col(ReferralEvent.published_at).is_(None))
        ).one()
    return int(total), int(unpublished)


@dataclass
class LiveTracker:
    """A tracker on its own migrated SQLite file, reading ``topics``."""

    url: str
    settings: TrackerSettings
    db: Database

    @classmethod
    def beside(cls, tmp_path: Path, bootstrap: str, topics: KafkaTopics, **more: Any) -> LiveTracker:
        url = f"sqlite:///{tmp_path / 'tracker.db'}"
        settings = TrackerSettings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=tmp_path / "data",
            tracker_database_url=url,
            kafka_bootstrap=bootstrap,
            tracker_group_id=f"{topics.referral_events}.tracker",
            topics=topics,
            **more,
        )
        engine = make_engine(url)
        tracker_upgrade(engine)
        return cls(url, settings, Database(engine))

    def history(self) -> int:
        with self.db.read() as session:
            return int(session.exec(select(func.count()).select_from(HistoryRow)).one())

    def sync(self, ctx: ReferralContext, referral_settings: ReferralSettings) -> int:
        """Relay the event store and let this tracker apply all of it; how many events there are."""
        events, _ = events_stored(ctx)
        loops = referral_loops(ctx, referral_settings).start()
        try:
            with running(self.db, self.settings):
                wait_for(lambda: events_stored(ctx)[1] == 0 and self.history() == events)
        finally:
            loops.stop()
        return events

    def replay(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], Result]:
        """``rujukan audit replay --compare`` against this tracker, as an auditor runs it: its report, and
        the command's result."""
        monkeypatch.setenv("RUJUKAN_KAFKA_BOOTSTRAP", self.settings.kafka_bootstrap)
        monkeypatch.setenv("RUJUKAN_TOPICS__REFERRAL_EVENTS", self.settings.topics.referral_events)
        report_path = tmp_path / "report.json"
        result = CliRunner().invoke(
            app,
            ["audit", "replay", "--compare", self.url, "--report", str(report_path), "--data-dir", str(tmp_path)],
        )
        return json.loads(report_path.read_text()), result

    def close(self) -> None:
        self.db.engine.dispose()
