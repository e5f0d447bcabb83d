"""The coordinators' view of the service directory: the tracker follows the directory topic (the referral
service owns the directory and publishes every change there) and keeps each entry's latest state, for the
dashboard's capacity per region and service type.

An entry's events share a partition (key ``AGENCY/service_type``) and so arrive in order; an event older
than the state held (a topic read again from the start after a reset) changes nothing, so applying one
twice is harmless and no event ids are kept.

The view groups by province: an entry serves the provinces its region codes lie in, or the whole country
(the column ``nasional``) when it names none. A cell sums the places the entries serving it have
(available and maximum) and counts the entries, the full ones (0 available) and those that do not say.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, select

from rujukan.core.db import Database
from rujukan.core.kafka.chain_consumer import BatchResult, ChainConsumer, DeadLetter
from rujukan.core.regions import PROVINCE, region_at
from rujukan.tracker.models import ConsumerPosition, DirectoryRow
from rujukan.tracker.settings import TrackerSettings

CONSUMER = "tracker-directory-v1"
DIRECTORY_EVENTS = frozenset({"DirectoryServiceUpdated", "DirectoryCapacityUpdated"})
NATIONAL = "nasional"


class DirectoryConsumer(ChainConsumer):
    def __init__(self, db: Database, settings: TrackerSettings) -> None:
        super().__init__(
            db,
            settings,
            name=CONSUMER,
            group_id=f"{settings.tracker_group_id}-directory",
            positions=ConsumerPosition,
            applier=apply_directory_events,
            topic=settings.topics.directory_events,
            event_types=DIRECTORY_EVENTS,
        )


def apply_directory_events(
    session: Session, events: list[tuple[Any, dict[str, Any]]], dead_letter: DeadLetter, result: BatchResult
) -> None:
    """Each entry's state after the batch's events, in log order; an event older than what is held is
    skipped (counted as a duplicate)."""
    if not events:
        return
    keys = {(str(event["agency_code"]), str(event["service_type"])) for _, event in events}
    held = {
        (row.agency_code, row.service_type): row
        for row in session.exec(select(DirectoryRow).where(col(DirectoryRow.agency_code).in_({a for a, _ in keys})))
        if (row.agency_code, row.service_type) in keys
    }
    for _, event in events:
        key = (str(event["agency_code"]), str(event["service_type"]))
        at: dt.datetime = event["occurred_at"]
        row = held.get(key)
        if row is not None and row.updated_at > at:
            result.duplicates += 1
            continue
        if event["event_type"] == "DirectoryServiceUpdated":
            if row is None:
                row = DirectoryRow(agency_code=key[0], service_type=key[1], name="", regions="[]", updated_at=at)
                held[key] = row
                session.add(row)
            row.name = str(event["service_name"])
            row.regions = json.dumps(sorted(str(region) for region in event["regions"]))
        elif row is None:
            # capacity of an entry never described (its first event is gone with a reset log): a capacity
            # event has no name or regions to show it by; the entry's next DirectoryServiceUpdated brings it
            result.duplicates += 1
            continue
        _capacity(row, event.get("capacity"))
        row.updated_at = at
        result.applied += 1


def _capacity(row: DirectoryRow, capacity: dict[str, Any] | None) -> None:
    row.available = None if capacity is None else int(capacity["available"])
    row.maximum = None if capacity is None or capacity["maximum"] is None else int(capacity["maximum"])
    row.unit = None if capacity is None else str(capacity["unit"])
    row.waitlist = None if capacity is None else str(capacity["waitlist"])
    row.capacity_updated_at = None if capacity is None else capacity["updated_at"]


class CapacityCell(BaseModel):
    service_type: str
    region: str  # a province code, or "nasional"
    services: int  # entries serving it
    full: int  # of which 0 available
    unknown: int  # of which without a capacity
    available: int  # places, summed over the entries that say
    maximum: int | None  # summed, when every entry that says what is available says its maximum
    waitlists: dict[str, int]  # full entries per waitlist band


class CapacityEntry(BaseModel):
    agency_code: str
    service_type: str
    name: str
    regions: list[str]
    available: int | None
    maximum: int | None
    unit: str | None
    waitlist: str | None
    capacity_updated_at: dt.datetime | None


class CapacityView(BaseModel):
    service_types: list[str]
    regions: list[str]
    cells: list[CapacityCell]
    entries: list[CapacityEntry]


def capacity_view(db: Database, *, service_type: str | None = None) -> CapacityView:
    """Capacity per province (and nationwide) and service type, with the entries it sums."""
    query = select(DirectoryRow).order_by(col(DirectoryRow.service_type), col(DirectoryRow.agency_code))
    if service_type:
        query = query.where(DirectoryRow.service_type == service_type)
    with db.read() as session:
        rows = list(session.exec(query))
    entries = [
        CapacityEntry(
            **{name: getattr(row, name) for name in CapacityEntry.model_fields if name != "regions"},
            regions=json.loads(row.regions),
        )
        for row in rows
    ]
    grouped: dict[tuple[str, str], list[CapacityEntry]] = defaultdict(list)
    for entry in entries:
        provinces = sorted({region_at(region, PROVINCE) for region in entry.regions}) or [NATIONAL]
        for province in provinces:
            grouped[(entry.service_type, province)].append(entry)
    cells = [_cell(service, region, members) for (service, region), members in sorted(grouped.items())]
    return CapacityView(
        service_types=sorted({cell.service_type for cell in cells}),
        regions=sorted({cell.region for cell in cells}, key=lambda region: (region == NATIONAL, region)),
        cells=cells,
        entries=entries,
    )


def _cell(service_type: str, region: str, members: list[CapacityEntry]) -> CapacityCell:
    known = [entry for entry in members if entry.available is not None]
    maxima = [entry.maximum for entry in known if entry.maximum is not None]
    if len(maxima) < len(known):  # a maximum only when every entry that counts its room gives one
        maxima = []
    waitlists: dict[str, int] = defaultdict(int)
    for entry in known:
        if entry.available == 0:
            waitlists[entry.waitlist or "none"] += 1
    return CapacityCell(
        service_type=service_type,
        region=region,
        services=len(members),
        full=sum(1 for entry in known if entry.available == 0),
        unknown=len(members) - len(known),
        available=sum(entry.available or 0 for entry in known),
        maximum=sum(maxima) if maxima else None,
        waitlists=dict(waitlists),
    )
