"""The tracker's migrations build exactly the schema its models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from rujukan.core.db import Database
from rujukan.tracker.models import TrackerTable

pytestmark = pytest.mark.integration


def test_migrated_schema_matches_the_models(tracker_db: Database) -> None:
    with tracker_db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), TrackerTable.metadata) == []
