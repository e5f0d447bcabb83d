"""Options and set-up shared by the CLI commands: ``--data-dir`` and the referral service context."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rujukan.referral.api.app import build_context
from rujukan.referral.context import ReferralContext
from rujukan.referral.migrate import upgrade
from rujukan.referral.settings import ReferralSettings

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
