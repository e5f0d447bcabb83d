"""Rebuilding the tracker's projection from the log: the verified events folded through the tracker's own
pure ``project`` function, in memory, then written and compared by the tracker's rebuild module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from rujukan.tracker.projection import Handoff, ProjectionError, history_dict, project
from rujukan.tracker.rebuild import SlaPolicy, write_rebuilt


@dataclass
class Rebuild:
    """The projection folded in memory; ``rejected`` counts events the projection refused."""

    handoffs: dict[str, Handoff] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0

    def apply(self, event: Mapping[str, Any]) -> str | None:
        """Fold one event; the reason when the projection refuses it (the tracker dead-letters those)."""
        referral_id = str(event["referral_id"])
        try:
            handoff, entry = project(self.handoffs.get(referral_id), event)
        except ProjectionError as exc:
            self.rejected += 1
            return str(exc)
        self.handoffs[referral_id] = handoff
        self.history.append(history_dict(entry))
        return None

    def write(self, engine: Engine, policy: SlaPolicy) -> None:
        """Write into the database prepared by ``open_rebuild_database``."""
        write_rebuilt(engine, self.handoffs.values(), self.history, policy)
