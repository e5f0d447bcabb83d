"""Matching a person to the services that could take them, before referring: which, in what order, why.

A pure function of the directory's entries for one service type, what the referrer knows of the person
(region, category, age, sex) and each receiver's figures (how often it accepted that service's referrals,
how fast). Entries the person is not eligible for, or whose regions do not include the person's, are
left out (:func:`mismatches` names why). The others are ranked by a score in [0, 1]:

=================  ======  ===========================================================================
part               weight  value
=================  ======  ===========================================================================
capacity           0.35    room now: 0.5 + 0.5 x available/maximum (1.0 without a maximum); full: 0.3
                           with a short or no waitlist, 0.15 medium, 0.05 long; not stated: 0.4
region             0.30    lists the person's kabupaten/kota (or a part of it) 1.0, their province 0.6,
                           serves the whole country 0.3
acceptance         0.20    (accepted + 1) / (accepted + rejected + 2) of its referrals for this service
speed              0.15    1 / (1 + median hours from referral to acceptance / 24); unknown: 0.5
=================  ======  ===========================================================================

Each result carries its reasons as ``{"code", "detail"}``, one for each part, in the order above.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rujukan.core.regions import KABUPATEN_KOTA, PROVINCE, region_at
from rujukan.core.vocabulary import Waitlist
from rujukan.referral.directory import serves
from rujukan.referral.directory_models import DirectoryService

WEIGHTS = {"capacity": 0.35, "region": 0.30, "acceptance": 0.20, "speed": 0.15}
FULL_SCORES = {Waitlist.NONE: 0.3, Waitlist.SHORT: 0.3, Waitlist.MEDIUM: 0.15, Waitlist.LONG: 0.05}


@dataclass(frozen=True, slots=True)
class Person:
    """What matching knows of the person to refer (none of it identifying)."""

    region_code: str | None = None
    category: str | None = None
    age: int | None = None
    sex: str | None = None


@dataclass(frozen=True, slots=True)
class Figures:
    """A receiver's record for one service type (from the referral service's own referrals)."""

    accepted: int = 0
    rejected: int = 0
    median_hours_to_accept: float | None = None


@dataclass(frozen=True)
class Match:
    entry: DirectoryService
    score: float
    reasons: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        capacity = self.entry.capacity.model_dump(mode="json") if self.entry.capacity else None
        return {
            "agency": self.entry.agency,
            "service_type": self.entry.service_type.value,
            "name": self.entry.name,
            "score": self.score,
            "reasons": self.reasons,
            "capacity": capacity,
        }


def mismatches(entry: DirectoryService, person: Person) -> list[dict[str, str]]:
    """Why the person cannot be referred to this entry (empty: they can). Codes: ``category_not_eligible``,
    ``sex_not_eligible``, ``age_not_eligible``, ``region_not_served``."""
    found: list[dict[str, str]] = []
    rules = entry.eligibility
    if person.category and rules.categories and person.category not in {c.value for c in rules.categories}:
        served = ", ".join(sorted(c.value for c in rules.categories))
        found.append({"code": "category_not_eligible", "detail": f"{entry.agency} serves only {served}"})
    if person.sex and rules.sex and person.sex not in {s.value for s in rules.sex}:
        served = ", ".join(sorted(s.value for s in rules.sex))
        found.append({"code": "sex_not_eligible", "detail": f"{entry.agency} serves only {served}"})
    if person.age is not None and not _in_range(person.age, rules.min_age, rules.max_age):
        found.append({"code": "age_not_eligible", "detail": f"{entry.agency} serves ages {_range(entry)}"})
    if person.region_code and not serves(entry.regions, person.region_code):
        found.append({"code": "region_not_served", "detail": f"{entry.agency} serves {', '.join(entry.regions)}"})
    return found


def rank(entries: list[DirectoryService], person: Person, figures: dict[tuple[str, str], Figures]) -> list[Match]:
    """The entries the person can be referred to, best first (ties: by agency code)."""
    matches = []
    for entry in entries:
        if mismatches(entry, person):
            continue
        known = figures.get((entry.agency, entry.service_type.value), Figures())
        parts = [_capacity(entry), _region(entry, person), _acceptance(known), _speed(known)]
        score = sum(WEIGHTS[name] * value for name, value, _ in parts)
        matches.append(Match(entry, round(score, 3), [reason for _, _, reason in parts]))
    return sorted(matches, key=lambda m: (-m.score, m.entry.agency))


def _capacity(entry: DirectoryService) -> tuple[str, float, dict[str, str]]:
    capacity = entry.capacity
    if capacity is None:
        return "capacity", 0.4, {"code": "capacity_unknown", "detail": "the agency does not say how much room it has"}
    if capacity.available > 0:
        share = capacity.available / capacity.maximum if capacity.maximum else 1.0
        of = f" of {capacity.maximum}" if capacity.maximum else ""
        detail = f"{capacity.available}{of} {capacity.unit} available"
        return "capacity", 0.5 + 0.5 * min(share, 1.0), {"code": "has_capacity", "detail": detail}
    detail = f"full ({capacity.unit}); waitlist {capacity.waitlist.value}"
    return "capacity", FULL_SCORES[capacity.waitlist], {"code": "at_capacity", "detail": detail}


def _region(entry: DirectoryService, person: Person) -> tuple[str, float, dict[str, str]]:
    if not entry.regions:
        return "region", 0.3, {"code": "national", "detail": "serves the whole country"}
    if person.region_code is None:
        return "region", 0.3, {"code": "region_unknown", "detail": f"serves {', '.join(entry.regions)}"}
    code = person.region_code
    listed = [r for r in entry.regions if code == r or code.startswith(r + ".")]  # it serves the region
    level = max((len(r.split(".")) for r in listed), default=PROVINCE)
    if level >= KABUPATEN_KOTA:
        kabupaten = region_at(code, KABUPATEN_KOTA)
        return "region", 1.0, {"code": "same_kabupaten_kota", "detail": f"serves {kabupaten}"}
    return "region", 0.6, {"code": "same_province", "detail": f"serves province {region_at(code, PROVINCE)}"}


def _acceptance(known: Figures) -> tuple[str, float, dict[str, str]]:
    decided = known.accepted + known.rejected
    value = (known.accepted + 1) / (decided + 2)
    if decided == 0:
        return "acceptance", value, {"code": "no_record", "detail": "no referral of this service decided yet"}
    detail = f"accepted {known.accepted} of {decided} referrals decided"
    return "acceptance", value, {"code": "acceptance_rate", "detail": detail}


def _speed(known: Figures) -> tuple[str, float, dict[str, str]]:
    hours = known.median_hours_to_accept
    if hours is None:
        return "speed", 0.5, {"code": "speed_unknown", "detail": "no acceptance yet"}
    detail = f"median {hours:.1f} h from referral to acceptance"
    return "speed", 1 / (1 + hours / 24), {"code": "time_to_accept", "detail": detail}


def _in_range(age: int, low: int | None, high: int | None) -> bool:
    return (low is None or age >= low) and (high is None or age <= high)


def _range(entry: DirectoryService) -> str:
    low, high = entry.eligibility.min_age, entry.eligibility.max_age
    return f"{low if low is not None else 0}-{high if high is not None else ''}".rstrip("-") + (
        "+" if high is None else ""
    )
