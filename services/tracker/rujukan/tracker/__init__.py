"""The tracker: the coordinators' read side (handoff status, SLA clocks, statistics, dashboard)."""
