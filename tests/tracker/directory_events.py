"""Directory events as the referral service publishes them (decoded form), for the tracker's tests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from rujukan.tracker.settings import TrackerSettings
from tests.kafka_helpers import publish_events


def service_updated(
    agency: str, service: str, *, regions: list[str], available: int | None, at: dt.datetime, maximum: int = 10
) -> dict[str, Any]:
    capacity = (
        None
        if available is None
        else {"available": available, "maximum": maximum, "unit": "places", "waitlist": "short", "updated_at": at}
    )
    return {
        "event_id": uuid.uuid4(),
        "event_type": "DirectoryServiceUpdated",
        "occurred_at": at,
        "agency_code": agency,
        "service_type": service,
        "entry_id": uuid.uuid5(uuid.NAMESPACE_URL, f"{agency}/{service}"),
        "actor_agency": agency,
        "service_name": f"Layanan {service}",
        "service_description": "Uraian",
        "eligible_categories": [],
        "eligible_sex": [],
        "min_age": None,
        "max_age": None,
        "regions": regions,
        "languages": ["id"],
        "contact_phone": None,
        "contact_email": None,
        "contact_url": None,
        "capacity": capacity,
    }


def capacity_updated(agency: str, service: str, *, available: int, at: dt.datetime) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4(),
        "event_type": "DirectoryCapacityUpdated",
        "occurred_at": at,
        "agency_code": agency,
        "service_type": service,
        "entry_id": uuid.uuid5(uuid.NAMESPACE_URL, f"{agency}/{service}"),
        "actor_agency": "rujukan",
        "capacity": {"available": available, "maximum": 10, "unit": "places", "waitlist": "long", "updated_at": at},
        "cause": "rejected_for_capacity",
    }


def publish_directory(settings: TrackerSettings, events: list[dict[str, Any]]) -> None:
    publish_events(
        settings,
        events,
        topic=settings.topics.directory_events,
        key=lambda event: f"{event['agency_code']}/{event['service_type']}",
    )
