"""Writing the projection: from a Handoff (pure) to its row, with the SLA due and stop times."""

from __future__ import annotations

from typing import Any

from rujukan.core.sla import SlaPolicy
from rujukan.core.vocabulary import SlaClock
from rujukan.tracker.models import HandoffRow
from rujukan.tracker.projection import HANDOFF_FIELDS, Handoff, handoff_dict
from rujukan.tracker.sla import due_times, stopped_at


def handoff_of(row: HandoffRow) -> Handoff:
    return Handoff(**{name: getattr(row, name) for name in HANDOFF_FIELDS})


def handoff_values(handoff: Handoff, policy: SlaPolicy | None) -> dict[str, Any]:
    """The column values of ``handoff``'s row: its fields and its SLA due and stop times (the due times of
    its event; ``policy`` only serves an event written without them)."""
    due = due_times(handoff, policy)
    return {
        **handoff_dict(handoff),
        "ack_due_at": due.get(SlaClock.ACKNOWLEDGE),
        "respond_due_at": due.get(SlaClock.RESPOND),
        "ack_stopped_at": stopped_at(handoff, SlaClock.ACKNOWLEDGE),
        "respond_stopped_at": stopped_at(handoff, SlaClock.RESPOND),
    }
