"""Pre-flight: what a create would meet at the receiver, before anything is stored.

``errors`` are what a real create refuses (422, naming the rule): the checks create has always made (an
unknown or unoffered service, consent rules ...) and the receiver's eligibility rules from its directory
entry (``category_not_eligible``, ``sex_not_eligible``, ``age_not_eligible``). ``warnings`` do not stop
a create; its 201 carries them and the referral keeps them:

- ``receiver_at_capacity``: the receiver's entry shows no room (with its ``waitlist`` band);
- ``region_not_served``: the person's region is not among the entry's regions;
- ``not_in_directory``: the receiver has no entry for the service (capacity and eligibility unknown);
- ``parallel_referral``: the person (same NIK) has other active referrals outside this referral's case (a
  case's own referrals are its pathway), by any agency: ``counts`` per
  service type, and ``referrals`` (ids, agencies, service, status) only of those the caller is a party to;
  not for an erased subject, nor a restricted one of another controller, and only when the create would
  be made (a dry run with errors says nothing of the person's other referrals).

Each is ``{"code", "detail"}`` (plus the fields named above); no detail names the person.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from rujukan.core.lifecycle import NON_TERMINAL
from rujukan.referral.commands import CreateReferral
from rujukan.referral.context import ReferralContext
from rujukan.referral.directory import entry_of
from rujukan.referral.domain import age_on
from rujukan.referral.matching import Person, mismatches
from rujukan.referral.models import Referral, Subject

HARD = frozenset({"category_not_eligible", "sex_not_eligible", "age_not_eligible"})
ACTIVE = [status.value for status in NON_TERMINAL]


@dataclass
class Findings:
    warnings: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    parallel_ids: list[str] = field(default_factory=list)  # every active referral of the person, for the log


def preflight(
    ctx: ReferralContext,
    session: Session,
    *,
    agency: str,
    request: CreateReferral,
    valid: bool = True,
    case_id: str | None = None,
) -> Findings:
    """What the receiver's directory entry and the person's other referrals say about this create. The
    person's other referrals are looked at only for a create that would be made (``valid``: the other checks
    passed, and no eligibility rule refuses it): a dry run that breaks the rules is no way to ask, for any
    NIK, what others hold."""
    return findings_for(
        ctx,
        session,
        agency=agency,
        to_agency=request.to_agency,
        service_type=request.service_type.value,
        person=person_of(request, ctx.clock()),
        nik=request.subject.nik,
        valid=valid,
        case_id=case_id,
    )


def findings_for(
    ctx: ReferralContext,
    session: Session,
    *,
    agency: str,
    to_agency: str,
    service_type: str,
    person: Person,
    nik: str | None,
    valid: bool = True,
    case_id: str | None = None,
) -> Findings:
    """``preflight`` for a referral of ``person`` to ``to_agency`` (a create, or a forward's new referral)
    joining ``case_id``: the referrals of that case are its pathway, not parallel to it."""
    found = Findings()
    entry = entry_of(session, to_agency, service_type)
    if entry is None:
        found.warnings.append(
            {
                "code": "not_in_directory",
                "detail": f"{to_agency} has no directory entry for {service_type}: "
                "its capacity and eligibility are unknown",
            }
        )
    else:
        for mismatch in mismatches(entry, person):
            (found.errors if mismatch["code"] in HARD else found.warnings).append(mismatch)
        capacity = entry.capacity
        if capacity is not None and capacity.available == 0:
            band = capacity.waitlist.value
            detail = f"{to_agency} has no {capacity.unit} available; waitlist {band}"
            found.warnings.append({"code": "receiver_at_capacity", "detail": detail, "waitlist": band})
    if valid and not found.errors and nik is not None:
        _parallel(ctx, session, agency, nik, found, case_id)
    return found


def person_of(request: CreateReferral, now: dt.datetime) -> Person:
    subject = request.subject
    return person_from(
        birth_date=subject.birth_date,
        sex=subject.sex.value,
        category=subject.category.value,
        region_code=subject.region_code,
        now=now,
    )


def person_from(*, birth_date: dt.date | None, sex: str, category: str, region_code: str, now: dt.datetime) -> Person:
    age = age_on(birth_date, now.date()) if birth_date is not None else None
    return Person(region_code=region_code, category=category, age=age, sex=sex if sex != "unknown" else None)


def _parallel(
    ctx: ReferralContext, session: Session, agency: str, nik: str, found: Findings, case_id: str | None
) -> None:
    person = ctx.master_key.person_index(nik)
    # an erased subject is no one's any more; a restricted one is seen by its controller only
    subjects = select(Subject.id).where(
        Subject.person_index == person,
        col(Subject.erased_at).is_(None),
        or_(col(Subject.restricted_at).is_(None), col(Subject.controller) == agency),
    )
    active = session.exec(
        select(Referral)
        .where(col(Referral.subject_id).in_(subjects), col(Referral.status).in_(ACTIVE))
        .order_by(col(Referral.created_at))
    ).all()
    active = [r for r in active if r.case_id != case_id]
    if not active:
        return
    found.parallel_ids = [r.id for r in active]
    counts = Counter(r.service_type for r in active)
    mine = [
        {
            "referral_id": r.id,
            "from_agency": r.from_agency,
            "to_agency": r.to_agency,
            "service_type": r.service_type,
            "status": r.status,
        }
        for r in active
        if agency in (r.from_agency, r.to_agency)
    ]
    listed = ", ".join(f"{service} x{count}" for service, count in sorted(counts.items()))
    found.warnings.append(
        {
            "code": "parallel_referral",
            "detail": f"the person has {len(active)} other active referral(s): {listed}",
            "counts": dict(sorted(counts.items())),
            "referrals": mine,
        }
    )
