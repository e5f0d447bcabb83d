"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from rujukan.referral.context import ReferralContext
from rujukan.referral.migrate import upgrade
from rujukan.referral.models import ReferralTable
from rujukan.referral.settings import ReferralSettings

pytestmark = pytest.mark.integration


def test_migrated_schema_matches_the_models(ctx: ReferralContext) -> None:
    upgrade(ctx.engine)  # running it again changes nothing
    with ctx.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), ReferralTable.metadata)
    assert differences == []


def test_the_database_url_setting_accepts_both_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUJUKAN_DATABASE_URL", "postgresql://db/one")
    assert ReferralSettings(_env_file=None).database_url() == "postgresql://db/one"  # type: ignore[call-arg]
    monkeypatch.setenv("RUJUKAN_REFERRAL_DATABASE_URL", "postgresql://db/two")
    assert ReferralSettings(_env_file=None).database_url() == "postgresql://db/two"  # type: ignore[call-arg]
