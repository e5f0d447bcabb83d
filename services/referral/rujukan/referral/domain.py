"""Pure rules of the referral service that are not the lifecycle table: age bands and consent."""

from __future__ import annotations

import datetime as dt

from rujukan.core.vocabulary import AgeBand, ConsentGiver, LegalBasis, SubjectCategory
from rujukan.referral.commands import CreateReferral
from rujukan.referral.errors import InvalidRequest

AGE_BANDS = [
    (5, AgeBand.AGE_0_5),
    (12, AgeBand.AGE_6_12),
    (17, AgeBand.AGE_13_17),
    (24, AgeBand.AGE_18_24),
    (44, AgeBand.AGE_25_44),
    (59, AgeBand.AGE_45_59),
]
CHILD_CATEGORIES = frozenset({SubjectCategory.VIOLENCE_VICTIM_CHILD, SubjectCategory.CHILD_IN_CONFLICT_WITH_LAW})
CLOCK_SKEW = dt.timedelta(minutes=5)
PLANNING_HORIZON = dt.timedelta(days=731)  # a referral is planned at most two years ahead


def age_on(birth_date: dt.date, day: dt.date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def age_band(birth_date: dt.date | None, day: dt.date) -> AgeBand:
    if birth_date is None or birth_date > day:
        return AgeBand.UNKNOWN
    age = age_on(birth_date, day)
    return next((band for limit, band in AGE_BANDS if age <= limit), AgeBand.AGE_60_PLUS)


def is_child(request: CreateReferral, day: dt.date) -> bool:
    birth_date = request.subject.birth_date
    if birth_date is not None:
        return age_on(birth_date, day) < 18
    return request.subject.category in CHILD_CATEGORIES


def check_create(request: CreateReferral, *, now: dt.datetime) -> None:
    """Rules across fields of a new referral; raises InvalidRequest naming the rule."""
    birth_date = request.subject.birth_date
    if birth_date is not None and birth_date > now.date():
        raise InvalidRequest("subject.birth_date is in the future")
    check_planned_for(request.planned_for, now=now)
    if request.assessment is not None:
        check_recorded("assessment.assessed_at", request.assessment.assessed_at, now=now)
    consent = request.consent
    if request.legal_basis is LegalBasis.CONSENT:
        if consent is None:
            raise InvalidRequest("consent is required when legal_basis is consent")
        if is_child(request, now.date()) and consent.given_by is not ConsentGiver.GUARDIAN:
            raise InvalidRequest("consent for a child must be given by a guardian")
    if consent is not None:
        check_recorded("consent.recorded_at", consent.recorded_at, now=now)


def check_planned_for(planned_for: dt.datetime | None, *, now: dt.datetime) -> None:
    """A planned send time has an offset and lies in the future, within the planning horizon."""
    if planned_for is None:
        return
    if planned_for.tzinfo is None:
        raise InvalidRequest("planned_for needs a UTC offset")
    if planned_for <= now:
        raise InvalidRequest("planned_for is not in the future: leave it out to send the referral now")
    if planned_for > now + PLANNING_HORIZON:
        raise InvalidRequest("planned_for is more than two years ahead")


def check_recorded(name: str, moment: dt.datetime, *, now: dt.datetime) -> None:
    """A moment something was recorded: with an offset, and not in the future (beyond clock skew)."""
    if moment.tzinfo is None:
        raise InvalidRequest(f"{name} needs a UTC offset")
    if moment > now + CLOCK_SKEW:
        raise InvalidRequest(f"{name} is in the future")
