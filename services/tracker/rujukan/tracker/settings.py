"""Settings of the tracker (``RUJUKAN_*`` environment variables on top of the core settings)."""

from __future__ import annotations

import datetime as dt

from pydantic import AliasChoices, Field, field_validator

from rujukan.core.settings import CoreSettings
from rujukan.core.vocabulary import Urgency
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
        description="Acknowledge and respond limits in hours per urgency, as JSON; an urgency left out keeps "
        "its default.",
    )

    @field_validator("sla_hours")
    @classmethod
    def _complete_sla_hours(cls, given: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        """Refuse unknown urgencies and limits that cannot be; fill in the defaults of those left out (a
        partial setting once stopped the consumer at the first event of another urgency)."""
        unknown = set(given) - {u.value for u in Urgency}
        if unknown:
            raise ValueError(f"unknown urgency {sorted(unknown)[0]!r}; use {', '.join(u.value for u in Urgency)}")
        for urgency, (ack, respond) in given.items():
            if not 0 < ack <= respond:
                raise ValueError(f"{urgency}: the limits must be positive and acknowledge <= respond")
        defaults = {k: (a.total_seconds() / 3600, r.total_seconds() / 3600) for k, (a, r) in DEFAULT_CLOCKS.items()}
        return {**defaults, **given}

    def database_url(self) -> str:
        if self.tracker_database_url:
            return self.tracker_database_url
        return f"sqlite:///{(self.data_dir / 'tracker.db').resolve()}"

    def sla_policy(self) -> SlaPolicy:
        hours = dt.timedelta(hours=1)
        return SlaPolicy(
            clocks={urgency: (ack * hours, respond * hours) for urgency, (ack, respond) in self.sla_hours.items()}
        )
