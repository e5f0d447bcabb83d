"""The directory as Open Referral HSDS 3.1 (Human Services Data Specification) JSON, both ways.

``export_hsds`` gives ``{"hsds_version": "3.1", "organizations": [...], "services": [...]}``: one HSDS
organization per agency with entries (its agency code as an ``organization_identifiers`` entry of scheme
``rujukan``), one HSDS service per entry, each valid against HSDS's compiled ``organization`` and
``service`` schemas. Rujukan's terms travel as HSDS attributes with taxonomy terms: the service type
(taxonomy ``rujukan-service-type``), the eligible subject categories and sexes
(``rujukan-subject-category``, ``rujukan-sex``); regions are service areas whose ``extent`` is the region
code (``extent_type`` ``text``), and the capacity is a ``service_capacity`` with its unit (the waitlist
band in its description). Ids of organizations and of the taxonomy terms are stable UUIDs derived from
the codes, so an export is the same every time.

``entries_of`` reads such a document back (as ``rujukan directory load`` does): organizations are matched
to agencies by their ``rujukan`` identifier, services to service types by their attribute.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import col, select

from rujukan.core.vocabulary import ServiceType, Sex, SubjectCategory, Waitlist
from rujukan.referral.context import ReferralContext
from rujukan.referral.directory import list_services
from rujukan.referral.directory_models import CapacityIn, Contact, DirectoryService, DirectoryServiceIn, Eligibility
from rujukan.referral.errors import InvalidRequest
from rujukan.referral.models import Agency

NAMESPACE = uuid.UUID("5b0d7c1e-2a52-4c3e-9d0b-6f3a1d2e8c47")  # Rujukan's, for ids derived from codes
SCHEME = "rujukan"
SERVICE_TAXONOMY, CATEGORY_TAXONOMY, SEX_TAXONOMY = "rujukan-service-type", "rujukan-subject-category", "rujukan-sex"


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def export_hsds(ctx: ReferralContext) -> dict[str, Any]:
    entries = list_services(ctx)
    codes = sorted({e.agency for e in entries})
    with ctx.read() as session:
        agencies = {a.code: a for a in session.exec(select(Agency).where(col(Agency.code).in_(codes))).all()}
    organizations = [_organization(agencies[code]) for code in codes if code in agencies]
    return {"hsds_version": "3.1", "organizations": organizations, "services": [_service(e) for e in entries]}


def _organization(agency: Agency) -> dict[str, Any]:
    organization_id = stable_id("organization", agency.code)
    return {
        "id": organization_id,
        "name": agency.name,
        "description": f"{agency.name} ({agency.kind}, {agency.region_code})",
        "organization_identifiers": [
            {
                "id": stable_id("identifier", agency.code),
                "organization_id": organization_id,
                "identifier_scheme": SCHEME,
                "identifier_type": "agency_code",
                "identifier": agency.code,
            }
        ],
    }


def _service(entry: DirectoryService) -> dict[str, Any]:
    service: dict[str, Any] = {
        "id": entry.id,
        "organization_id": stable_id("organization", entry.agency),
        "name": entry.name,
        "description": entry.description,
        "status": "active",
        "eligibility_description": _eligibility_text(entry),
        "minimum_age": entry.eligibility.min_age,
        "maximum_age": entry.eligibility.max_age,
        "email": entry.contact.email,
        "url": entry.contact.url,
        "last_modified": entry.updated_at.isoformat(),
        "languages": [
            {"id": stable_id("language", entry.id, code), "service_id": entry.id, "code": code}
            for code in entry.languages
        ],
        "service_areas": [
            {
                "id": stable_id("area", entry.id, region),
                "service_id": entry.id,
                "name": region,
                "extent": region,
                "extent_type": "text",
                "description": "BPS/Kemendagri kode wilayah",
            }
            for region in entry.regions
        ],
        "phones": [{"id": stable_id("phone", entry.id), "service_id": entry.id, "number": entry.contact.phone}]
        if entry.contact.phone
        else [],
        "attributes": _attributes(entry),
        "capacities": [_capacity(entry)] if entry.capacity is not None else [],
    }
    return {k: v for k, v in service.items() if v is not None}


def _attributes(entry: DirectoryService) -> list[dict[str, Any]]:
    terms = [(SERVICE_TAXONOMY, entry.service_type.value)]
    terms += [(CATEGORY_TAXONOMY, c.value) for c in entry.eligibility.categories]
    terms += [(SEX_TAXONOMY, s.value) for s in entry.eligibility.sex]
    return [
        {
            "id": stable_id("attribute", entry.id, taxonomy, code),
            "link_id": entry.id,
            "link_type": "service",
            "link_entity": "service",
            "taxonomy_term_id": stable_id("term", taxonomy, code),
            "taxonomy_term": {
                "id": stable_id("term", taxonomy, code),
                "code": code,
                "name": code,
                "description": f"{taxonomy}: {code}",
                "taxonomy": taxonomy,
            },
        }
        for taxonomy, code in terms
    ]


def _capacity(entry: DirectoryService) -> dict[str, Any]:
    capacity = entry.capacity
    assert capacity is not None
    found: dict[str, Any] = {
        "id": stable_id("capacity", entry.id),
        "service_id": entry.id,
        "unit": {"id": stable_id("unit", capacity.unit), "name": capacity.unit, "scheme": SCHEME},
        "available": capacity.available,
        "description": f"waitlist: {capacity.waitlist.value}",
        "updated": capacity.updated_at.isoformat(),
    }
    if capacity.maximum is not None:
        found["maximum"] = capacity.maximum
    return found


def _eligibility_text(entry: DirectoryService) -> str:
    rules = entry.eligibility
    parts = [f"kategori: {', '.join(c.value for c in rules.categories) or 'semua'}"]
    parts.append(f"jenis kelamin: {', '.join(s.value for s in rules.sex) or 'semua'}")
    if rules.min_age is not None or rules.max_age is not None:
        parts.append(f"usia: {rules.min_age if rules.min_age is not None else 0}-{rules.max_age or ''}")
    return "; ".join(parts)


# -- reading an HSDS document back ------------------------------------------------------------------------
def entries_of(document: dict[str, Any]) -> list[tuple[str, ServiceType, DirectoryServiceIn]]:
    """(agency code, service type, entry) of every service of an HSDS document made by ``export_hsds``
    (or by another system that uses the same identifiers and taxonomies); InvalidRequest naming what is
    missing otherwise."""
    agency_of = {}
    for organization in document.get("organizations", []):
        codes = [
            i.get("identifier")
            for i in organization.get("organization_identifiers", [])
            if i.get("identifier_scheme") == SCHEME
        ]
        if codes:
            agency_of[organization.get("id")] = str(codes[0])
    found = []
    for index, service in enumerate(document.get("services", [])):
        where = f"services[{index}]"
        agency = agency_of.get(service.get("organization_id"))
        if agency is None:
            raise InvalidRequest(f"{where}: its organization has no {SCHEME} identifier (an agency code)")
        terms = {
            (str(a["taxonomy_term"].get("taxonomy")), str(a["taxonomy_term"].get("code")))
            for a in service.get("attributes", [])
            if isinstance(a.get("taxonomy_term"), dict)
        }
        types = [code for taxonomy, code in terms if taxonomy == SERVICE_TAXONOMY]
        if len(types) != 1:
            raise InvalidRequest(f"{where}: give exactly one attribute of taxonomy {SERVICE_TAXONOMY}")
        try:
            found.append((agency, ServiceType(types[0]), _entry(service, terms)))
        except ValueError as exc:
            raise InvalidRequest(f"{where}: {_first_error(exc)}") from exc
        except KeyError as exc:
            raise InvalidRequest(f"{where}: {exc.args[0]} is missing") from exc
        except (TypeError, AttributeError) as exc:
            raise InvalidRequest(f"{where}: a field has the wrong type ({type(exc).__name__})") from exc
    return found


def _entry(service: dict[str, Any], terms: set[tuple[str, str]]) -> DirectoryServiceIn:
    phones = service.get("phones") or []
    capacities = service.get("capacities") or []
    capacity = None
    if capacities:
        first = capacities[0]
        band = str(first.get("description", "")).removeprefix("waitlist: ").strip() or Waitlist.NONE.value
        capacity = CapacityIn(
            available=int(first["available"]),
            maximum=int(first["maximum"]) if first.get("maximum") is not None else None,
            unit=str(first["unit"]["name"]),
            waitlist=Waitlist(band) if band in Waitlist.__members__.values() else Waitlist.NONE,
        )
    return DirectoryServiceIn(
        name=service["name"],
        description=service.get("description") or service["name"],
        eligibility=Eligibility.model_validate(
            {
                "categories": [SubjectCategory(c) for t, c in sorted(terms) if t == CATEGORY_TAXONOMY],
                "sex": [Sex(c) for t, c in sorted(terms) if t == SEX_TAXONOMY],
                "min_age": service.get("minimum_age"),
                "max_age": service.get("maximum_age"),
            }
        ),
        regions=[str(area.get("extent") or area.get("name")) for area in service.get("service_areas") or []],
        languages=[str(language["code"]) for language in service.get("languages") or [] if language.get("code")]
        or ["id"],
        contact=Contact(
            phone=phones[0]["number"] if phones else None, email=service.get("email"), url=service.get("url")
        ),
        capacity=capacity,
    )


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors(include_input=False, include_url=False)[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc).splitlines()[0]
