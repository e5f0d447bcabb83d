"""Settings of the tracker (``RUJUKAN_*`` environment variables on top of the core settings, which hold the
SLA policy shared with the referral service)."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from rujukan.core.settings import CoreSettings


class TrackerSettings(CoreSettings):
    tracker_database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("tracker_database_url", "RUJUKAN_TRACKER_DATABASE_URL"),
        description="SQLAlchemy URL of the tracker database (default: SQLite in the data dir).",
    )
    tracker_group_id: str = Field(default="rujukan-tracker-v1", description="Kafka consumer group.")
    consumer_in_process: bool = Field(default=True, description="Run the consumer inside `tracker serve`.")

    def database_url(self) -> str:
        if self.tracker_database_url:
            return self.tracker_database_url
        return f"sqlite:///{(self.data_dir / 'tracker.db').resolve()}"
