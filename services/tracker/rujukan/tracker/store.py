"""Writing the projection: from a Handoff (pure) to its row, with the SLA due and stop times."""

from __future__ import annotations

from typing import Any

from rujukan.core.vocabulary import SlaClock
from rujukan.tracker.models import HandoffRow
from rujukan.tracker.projection import HANDOFF_FIELDS, Handoff, handoff_dict
from rujukan.tracker.sla import SlaPolicy, due_times, stopped_at


def handoff_of(row: HandoffRow) -> Handoff:
    return Handoff(**{name: getattr(row, name) for name in HANDOFF_FIELDS})


def handoff_values(handoff: Handoff, policy: SlaPolicy) -> dict[str, Any]:
    """The column values of ``handoff``'s row: its fields and its SLA due and stop times."""
    due = due_times(handoff, policy)
    return {
        **handoff_dict(handoff),
        "ack_due_at": due[SlaClock.ACKNOWLEDGE],
        "respond_due_at": due[SlaClock.RESPOND],
        "ack_stopped_at": stopped_at(handoff, SlaClock.ACKNOWLEDGE),
        "respond_stopped_at": stopped_at(handoff, SlaClock.RESPOND),
    }
