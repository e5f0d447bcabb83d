"""What lives in ``--data-dir``, for the CLI commands: each service's settings located there (unless a
database URL is configured) and its store opened, migrated, and closed when the command ends."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy import Engine

from rujukan.cli.output import err
from rujukan.cli.system import running_system
from rujukan.core.db import Database, make_engine
from rujukan.core.settings import CoreSettings
from rujukan.notifier.migrate import upgrade as notifier_upgrade
from rujukan.notifier.settings import NotifierSettings
from rujukan.referral.api.app import build_context
from rujukan.referral.context import ReferralContext
from rujukan.referral.migrate import upgrade
from rujukan.referral.settings import ReferralSettings
from rujukan.referral.transparency import adopt_log
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


S = TypeVar("S", bound=CoreSettings)


def _located(settings: S, data_dir: Path | None) -> S:
    """``settings`` for ``data_dir``; while ``rujukan up`` runs there, its broker and (with ``--postgres``)
    its databases, unless RUJUKAN_KAFKA_BOOTSTRAP or a service's database URL setting says otherwise."""
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    running = running_system(settings.data_dir)
    if running is None:
        return settings
    if "RUJUKAN_KAFKA_BOOTSTRAP" not in os.environ and running.get("broker"):
        settings = settings.model_copy(update={"kafka_bootstrap": str(running["broker"])})
    databases = running.get("databases") or {}
    for service in ("referral", "tracker", "notifier"):
        field = f"{service}_database_url"
        if service in databases and field in type(settings).model_fields and not _url_configured(service):
            settings = settings.model_copy(update={field: str(databases[service])})
    return settings


def _url_configured(service: str) -> bool:
    names = {f"RUJUKAN_{service.upper()}_DATABASE_URL"} | ({"RUJUKAN_DATABASE_URL"} if service == "referral" else set())
    return any(name in os.environ for name in names)


def referral_settings(data_dir: Path | None) -> ReferralSettings:
    return _located(ReferralSettings(), data_dir)


@contextmanager
def referral_context(data_dir: Path | None) -> Iterator[ReferralContext]:
    """The referral database of this data dir (or RUJUKAN_REFERRAL_DATABASE_URL), migrated; its connections
    are closed when the block ends."""
    ctx = build_context(referral_settings(data_dir))
    try:
        upgrade(ctx.engine)
        adopt_log(ctx)
        yield ctx
    finally:
        ctx.close()
        ctx.engine.dispose()


def tracker_settings(data_dir: Path | None) -> TrackerSettings:
    return _located(TrackerSettings(), data_dir)


@contextmanager
def _migrated(settings: TrackerSettings | NotifierSettings, upgrade: Callable[[Engine], None]) -> Iterator[Database]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(make_engine(settings.database_url()))
    try:
        upgrade(database.engine)
        yield database
    finally:
        database.engine.dispose()


def tracker_database(data_dir: Path | None) -> AbstractContextManager[Database]:
    """The tracker database of this data dir (or RUJUKAN_TRACKER_DATABASE_URL), migrated, for a block."""
    return _migrated(tracker_settings(data_dir), tracker_upgrade)


def notifier_settings(data_dir: Path | None) -> NotifierSettings:
    return _located(NotifierSettings(), data_dir)


def notifier_database(data_dir: Path | None) -> AbstractContextManager[Database]:
    """The notifier database of this data dir (or RUJUKAN_NOTIFIER_DATABASE_URL), migrated, for a block."""
    return _migrated(notifier_settings(data_dir), notifier_upgrade)


def migrate(data_dir: DataDir = None) -> None:
    """Bring the referral, tracker and notifier databases to their latest schema, then exit. Any number of
    replicas may migrate at the same moment (they take turns); the services also migrate when they start."""
    for name, settings, upgrade_to_head in (
        ("referral", referral_settings(data_dir), upgrade),
        ("tracker", tracker_settings(data_dir), tracker_upgrade),
        ("notifier", notifier_settings(data_dir), notifier_upgrade),
    ):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.database_url())
        try:
            upgrade_to_head(engine)
        finally:
            engine.dispose()
        err.print(f"{name} database: at the latest schema", markup=False)
