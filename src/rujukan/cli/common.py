"""Options and set-up shared by the CLI commands: ``--data-dir`` and the referral service context."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rujukan.core.db import Database, make_engine
from rujukan.notifier.migrate import upgrade as notifier_upgrade
from rujukan.notifier.settings import NotifierSettings
from rujukan.referral.api.app import build_context
from rujukan.referral.context import ReferralContext
from rujukan.referral.migrate import upgrade
from rujukan.referral.settings import ReferralSettings
from rujukan.tracker.migrate import upgrade as tracker_upgrade
from rujukan.tracker.settings import TrackerSettings

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data directory (default ./rujukan-data, or RUJUKAN_DATA_DIR).",
        envvar="RUJUKAN_DATA_DIR",
        show_envvar=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def referral_settings(data_dir: Path | None) -> ReferralSettings:
    settings = ReferralSettings()
    return settings.model_copy(update={"data_dir": data_dir}) if data_dir is not None else settings


def referral_context(data_dir: Path | None) -> ReferralContext:
    """The referral database of this data dir (or RUJUKAN_REFERRAL_DATABASE_URL), migrated."""
    ctx = build_context(referral_settings(data_dir))
    upgrade(ctx.engine)
    return ctx


def tracker_settings(data_dir: Path | None) -> TrackerSettings:
    settings = TrackerSettings()
    return settings.model_copy(update={"data_dir": data_dir}) if data_dir is not None else settings


def tracker_database(data_dir: Path | None) -> Database:
    """The tracker database of this data dir (or RUJUKAN_TRACKER_DATABASE_URL), migrated."""
    settings = tracker_settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(make_engine(settings.database_url()))
    tracker_upgrade(database.engine)
    return database


def notifier_settings(data_dir: Path | None) -> NotifierSettings:
    settings = NotifierSettings()
    return settings.model_copy(update={"data_dir": data_dir}) if data_dir is not None else settings


def notifier_database(data_dir: Path | None) -> Database:
    """The notifier database of this data dir (or RUJUKAN_NOTIFIER_DATABASE_URL), migrated."""
    settings = notifier_settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(make_engine(settings.database_url()))
    notifier_upgrade(database.engine)
    return database
