"""The SLA policy (DESIGN.md section 2), shared by the services that need it: pure values, no I/O.

Two clocks start when a referral is created: *acknowledge* and *respond* (accept or reject), each with a
limit per urgency, optionally per (urgency, service type). The referral service computes the due times
with the policy in force when it creates a referral and writes them into the ReferralCreated event, so
the tracker, its SLA sweep and the audit's rebuild all read the same due times from the log; the tracker
falls back to its own policy only for events written before the due times travelled in them (v1).
Both read the one setting, ``RUJUKAN_SLA_HOURS`` (:class:`rujukan.core.settings.CoreSettings`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

HOUR = dt.timedelta(hours=1)
DEFAULT_CLOCKS: dict[str, tuple[dt.timedelta, dt.timedelta]] = {
    "emergency": (1 * HOUR, 4 * HOUR),
    "urgent": (24 * HOUR, 72 * HOUR),
    "routine": (72 * HOUR, 7 * 24 * HOUR),
}
DEFAULT_SLA_HOURS: dict[str, tuple[float, float]] = {
    urgency: (ack / HOUR, respond / HOUR) for urgency, (ack, respond) in DEFAULT_CLOCKS.items()
}


@dataclass(frozen=True)
class SlaPolicy:
    """Acknowledge and respond limits per urgency; ``overrides`` per (urgency, service type)."""

    clocks: dict[str, tuple[dt.timedelta, dt.timedelta]] = field(default_factory=lambda: dict(DEFAULT_CLOCKS))
    overrides: dict[tuple[str, str], tuple[dt.timedelta, dt.timedelta]] = field(default_factory=dict)

    @classmethod
    def from_hours(cls, hours: Mapping[str, tuple[float, float]]) -> SlaPolicy:
        """The policy of a ``sla_hours`` setting (limits in hours per urgency)."""
        return cls(clocks={urgency: (ack * HOUR, respond * HOUR) for urgency, (ack, respond) in hours.items()})

    def limits(self, urgency: str, service_type: str) -> tuple[dt.timedelta, dt.timedelta]:
        return self.overrides.get((urgency, service_type)) or self.clocks[urgency]

    def due_at(self, *, urgency: str, service_type: str, created_at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """When the acknowledge and respond clocks of a referral created at ``created_at`` fall due."""
        acknowledge, respond = self.limits(urgency, service_type)
        return created_at + acknowledge, created_at + respond
