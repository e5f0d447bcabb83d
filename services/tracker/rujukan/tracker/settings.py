"""Settings of the tracker (``RUJUKAN_*`` environment variables on top of the core settings)."""

from __future__ import annotations

import datetime as dt

from pydantic import AliasChoices, Field

from rujukan.core.settings import CoreSettings
from rujukan.tracker.sla import DEFAULT_CLOCKS, SlaPolicy


class TrackerSettings(CoreSettings):
    tracker_database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("tracker_database_url", "RUJUKAN_TRACKER_DATABASE_URL"),
        description="SQLAlchemy URL of the tracker database (default: SQLite in the data dir).",
    )
    tracker_group_id: str = Field(default="rujukan-tracker-v1", description="Kafka consumer group.")
    consumer_in_process: bool = Field(default=True, description="Run the consumer inside `tracker serve`.")
    sla_hours: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {
            k: (a.total_seconds() / 3600, r.total_seconds() / 3600) for k, (a, r) in DEFAULT_CLOCKS.items()
        },
        description="Acknowledge and respond limits in hours per urgency, as JSON.",
    )

    def database_url(self) -> str:
        if self.tracker_database_url:
            return self.tracker_database_url
        return f"sqlite:///{(self.data_dir / 'tracker.db').resolve()}"

    def sla_policy(self) -> SlaPolicy:
        hours = dt.timedelta(hours=1)
        return SlaPolicy(
            clocks={urgency: (ack * hours, respond * hours) for urgency, (ack, respond) in self.sla_hours.items()}
        )
