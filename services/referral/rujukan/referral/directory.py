"""Use cases of the service directory: each agency keeps its own entries (one per service type it offers),
anyone with a credential reads them.

An entry says what the service is (name and description in Bahasa Indonesia), whom it serves (subject
categories, sexes, ages), where (region codes: a province or a kabupaten/kota; none: the whole country),
in which languages, how to reach it, and how much room it has now (available / maximum units, the unit,
a waitlist band). Every change is stored with its event (``DirectoryServiceUpdated`` or
``DirectoryCapacityUpdated``) in one transaction; the relay worker publishes the events to the directory
topic (key ``AGENCY/service_type``), where the tracker follows them for the coordinators' directory page.
A rejection with reason ``capacity_full`` tells the directory the service is full
(:func:`note_capacity_rejection`, in the rejection's own transaction).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import ColumnElement, Row, Table, or_, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from rujukan.core.fast_sql import connection_of
from rujukan.core.vocabulary import ServiceType, Waitlist
from rujukan.referral.acting import ACTING_STAFF
from rujukan.referral.context import ReferralContext
from rujukan.referral.directory_models import (
    CapacityIn,
    CapacityOut,
    Contact,
    DirectoryService,
    DirectoryServiceIn,
    Eligibility,
)
from rujukan.referral.errors import InvalidRequest, NotFound
from rujukan.referral.models import Agency, DirectoryEntry, DirectoryEvent
from rujukan.referral.statements import statements

RUJUKAN_ACTOR = "rujukan"


def entry_view(row: DirectoryEntry | Row[Any]) -> DirectoryService:
    """The entry as anyone reads it, from its ORM row or a row of its table's columns."""
    capacity = None
    if row.capacity_available is not None and row.capacity_updated_at is not None:
        capacity = CapacityOut(
            available=row.capacity_available,
            maximum=row.capacity_maximum,
            unit=row.capacity_unit or "places",
            waitlist=Waitlist(row.capacity_waitlist or Waitlist.NONE),
            updated_at=row.capacity_updated_at,
        )
    return DirectoryService(
        id=row.id,
        agency=row.agency_code,
        service_type=ServiceType(row.service_type),
        name=row.name,
        description=row.description,
        eligibility=Eligibility(
            categories=json.loads(row.eligible_categories),
            sex=json.loads(row.eligible_sex),
            min_age=row.min_age,
            max_age=row.max_age,
        ),
        regions=json.loads(row.regions),
        languages=json.loads(row.languages),
        contact=Contact(phone=row.contact_phone, email=row.contact_email, url=row.contact_url),
        capacity=capacity,
        capacity_rejections=row.capacity_rejections,
        updated_at=row.updated_at,
    )


# -- writing ---------------------------------------------------------------------------------------------
def put_service(
    ctx: ReferralContext, *, agency: str, service_type: ServiceType, entry: DirectoryServiceIn, actor: str | None = None
) -> DirectoryService:
    """Create or replace ``agency``'s entry for ``service_type`` (a service it offers). Two first PUTs of
    one entry at once: the one that loses the insert runs again and replaces it."""
    try:
        return _put_service(ctx, agency=agency, service_type=service_type, entry=entry, actor=actor)
    except IntegrityError:
        return _put_service(ctx, agency=agency, service_type=service_type, entry=entry, actor=actor)


def _put_service(
    ctx: ReferralContext, *, agency: str, service_type: ServiceType, entry: DirectoryServiceIn, actor: str | None
) -> DirectoryService:
    with ctx.transaction() as session:
        check_offered(session, agency, service_type)
        now = ctx.clock()
        row = session.get(DirectoryEntry, (agency, service_type.value)) or DirectoryEntry(
            agency_code=agency,
            service_type=service_type.value,
            id=str(uuid.uuid4()),
            name="",
            description="",
            updated_at=now,
        )
        fill_row(row, entry, now)
        session.add(row)
        session.flush()
        _store_event(ctx, session, row, "DirectoryServiceUpdated", actor or agency, now)
        return entry_view(row)


def put_capacity(
    ctx: ReferralContext, *, agency: str, service_type: ServiceType, capacity: CapacityIn
) -> DirectoryService:
    """Set the capacity of ``agency``'s entry for ``service_type`` (which must exist)."""
    with ctx.transaction() as session:
        row = session.get(DirectoryEntry, (agency, service_type.value))
        if row is None:
            raise NotFound(f"agency {agency} has no directory entry for {service_type.value}: PUT the entry first")
        now = ctx.clock()
        _set_capacity(row, capacity, now)
        session.add(row)
        session.flush()
        _store_event(ctx, session, row, "DirectoryCapacityUpdated", agency, now, cause="set")
        return entry_view(row)


def note_capacity_rejection(ctx: ReferralContext, session: Session, *, agency: str, service_type: str) -> None:
    """In a rejection's transaction: ``agency`` said it has no room for ``service_type``. Its entry, if it
    has one, counts the rejection and shows 0 available (until the agency sets its capacity again)."""
    row = session.get(DirectoryEntry, (agency, service_type))
    if row is None:
        return
    now = ctx.clock()
    session.execute(  # counted by the database: concurrent rejections in other processes all count
        update(DirectoryEntry)
        .where(col(DirectoryEntry.agency_code) == agency, col(DirectoryEntry.service_type) == service_type)
        .values(capacity_rejections=col(DirectoryEntry.capacity_rejections) + 1)
    )
    session.refresh(row, ["capacity_rejections"])
    row.last_capacity_rejection_at = now
    row.capacity_available, row.capacity_updated_at = 0, now
    row.capacity_unit = row.capacity_unit or "places"
    row.capacity_waitlist = row.capacity_waitlist or Waitlist.NONE.value
    session.add(row)
    session.flush()
    _store_event(ctx, session, row, "DirectoryCapacityUpdated", RUJUKAN_ACTOR, now, cause="rejected_for_capacity")


def fill_row(row: DirectoryEntry, entry: DirectoryServiceIn, now: dt.datetime) -> None:
    row.name, row.description = entry.name, entry.description
    row.eligible_categories = json.dumps(sorted({c.value for c in entry.eligibility.categories}))
    row.eligible_sex = json.dumps(sorted({s.value for s in entry.eligibility.sex}))
    row.min_age, row.max_age = entry.eligibility.min_age, entry.eligibility.max_age
    row.regions = json.dumps(sorted(set(entry.regions)))
    row.languages = json.dumps(list(dict.fromkeys(entry.languages)))
    row.contact_phone, row.contact_email, row.contact_url = entry.contact.phone, entry.contact.email, entry.contact.url
    if entry.capacity is not None:
        _set_capacity(row, entry.capacity, now)
    else:
        row.capacity_available = row.capacity_maximum = row.capacity_unit = row.capacity_waitlist = None
        row.capacity_updated_at = None
    row.updated_at = now


def _set_capacity(row: DirectoryEntry, capacity: CapacityIn, now: dt.datetime) -> None:
    row.capacity_available, row.capacity_maximum = capacity.available, capacity.maximum
    row.capacity_unit, row.capacity_waitlist = capacity.unit, capacity.waitlist.value
    row.capacity_updated_at = now


def check_offered(session: Session, agency: str, service_type: ServiceType) -> None:
    """NotFound for an unknown agency; InvalidRequest when it lists its services and not this one."""
    found = session.get(Agency, agency)
    if found is None:
        raise NotFound(f"no agency {agency}")
    offered = list(json.loads(found.services))
    if offered and service_type.value not in offered:
        raise InvalidRequest(f"agency {agency} does not offer {service_type.value}: add it to its services first")


def _store_event(
    ctx: ReferralContext,
    session: Session,
    row: DirectoryEntry,
    event_type: str,
    actor: str,
    now: dt.datetime,
    *,
    cause: str | None = None,
) -> None:
    view = entry_view(row)
    event: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "event_type": event_type,
        "occurred_at": now,
        "agency_code": row.agency_code,
        "service_type": row.service_type,
        "entry_id": uuid.UUID(row.id),
        "actor_agency": actor,
        "actor_staff": ACTING_STAFF.get(),
        "capacity": _capacity_record(view.capacity),
    }
    if event_type == "DirectoryServiceUpdated":
        event.update(
            service_name=view.name,
            service_description=view.description,
            eligible_categories=[c.value for c in view.eligibility.categories],
            eligible_sex=[s.value for s in view.eligibility.sex],
            min_age=view.eligibility.min_age,
            max_age=view.eligibility.max_age,
            regions=view.regions,
            languages=view.languages,
            contact_phone=view.contact.phone,
            contact_email=view.contact.email,
            contact_url=view.contact.url,
        )
    else:
        event["cause"] = cause
    session.add(
        DirectoryEvent(
            event_id=str(event["event_id"]),
            key=f"{row.agency_code}/{row.service_type}",
            event_type=event_type,
            occurred_at=now,
            payload=ctx.codec.encode(event),
        )
    )


def _capacity_record(capacity: CapacityOut | None) -> dict[str, Any] | None:
    if capacity is None:
        return None
    return {
        "available": capacity.available,
        "maximum": capacity.maximum,
        "unit": capacity.unit,
        "waitlist": capacity.waitlist.value,
        "updated_at": capacity.updated_at,
    }


# -- reading ---------------------------------------------------------------------------------------------
def list_services(
    ctx: ReferralContext, *, service_type: ServiceType | None = None, region_code: str | None = None
) -> list[DirectoryService]:
    """Entries, by agency and service type; with ``region_code``, those that serve it (or everywhere)."""
    table = DirectoryEntry.__table__  # type: ignore[attr-defined]
    query = core_select(table).order_by(table.c.agency_code, table.c.service_type)
    if service_type is not None:
        query = query.where(table.c.service_type == service_type.value)
    if region_code:
        query = query.where(_may_serve(table, region_code))
    with ctx.read() as session:
        found = [entry_view(row) for row in session.execute(query)]
    return [e for e in found if region_code is None or serves(e.regions, region_code)]


def _may_serve(table: Table, region_code: str) -> ColumnElement[bool]:
    """Entries that may serve ``region_code``: everywhere, or a region in its province (a superset that
    :func:`serves` judges exactly)."""
    province = region_code.split(".")[0]
    return or_(
        table.c.regions == "[]",
        table.c.regions.contains(json.dumps(province)),
        table.c.regions.contains(f'"{province}.'),
    )


def candidates(
    ctx: ReferralContext,
    *,
    service_type: ServiceType,
    region_code: str | None = None,
    category: str | None = None,
    age: int | None = None,
    sex: str | None = None,
) -> list[DirectoryService]:
    """The entries of ``service_type`` that may take such a person: a superset, filtered by the database
    on the stored columns (an age outside the range, a category or sex not in a non-empty list, no region
    of the person's province), so that matching builds and ranks only these (10,000 entries of one type
    are 0.7 s to read as ORM rows and views; the filter leaves a few hundred). :func:`matching.mismatches`
    still judges each exactly."""
    table = DirectoryEntry.__table__  # type: ignore[attr-defined]
    query = core_select(table).where(table.c.service_type == service_type.value)
    if age is not None:
        query = query.where(
            or_(table.c.min_age.is_(None), table.c.min_age <= age),
            or_(table.c.max_age.is_(None), table.c.max_age >= age),
        )
    for column, value in ((table.c.eligible_categories, category), (table.c.eligible_sex, sex)):
        if value:
            query = query.where(or_(column == "[]", column.contains(json.dumps(value))))
    if region_code:
        query = query.where(_may_serve(table, region_code))
    with ctx.read() as session:
        return [entry_view(row) for row in session.execute(query.order_by(table.c.agency_code))]


def entry_of(session: Session, agency: str, service_type: str) -> DirectoryService | None:
    """The entry, read on the driver (a create's pre-flight reads it: the ORM's get costs 40 times more)."""
    connection = connection_of(session)
    row = statements(connection).directory_entry.one(connection, (agency, service_type))
    return entry_view(row) if row is not None else None


def serves(regions: list[str], region_code: str) -> bool:
    """Whether a service with these regions serves ``region_code`` (a region it lists, or one inside one)."""
    return not regions or any(region_code == r or region_code.startswith(r + ".") for r in regions)
