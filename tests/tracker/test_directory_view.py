"""The coordinators' directory view and the "rujukan paralel" marker, against the real embedded broker
(or Kafka) on SQLite and PostgreSQL: the tracker follows the directory topic into capacity per province
and service type, and links the referrals a ReferralCreated names as the person's other active ones."""

from __future__ import annotations

import datetime as dt

import pytest

from rujukan.core.clock import utc_now
from rujukan.core.db import Database
from rujukan.tracker.directory import NATIONAL, DirectoryConsumer, capacity_view
from rujukan.tracker.errors import NotFound
from rujukan.tracker.queries import HandoffFilter, get_handoff, get_pathway, list_handoffs
from rujukan.tracker.settings import TrackerSettings
from tests.kafka_helpers import publish_events
from tests.tracker.directory_events import capacity_updated, publish_directory, service_updated
from tests.tracker.journeys import T0, Journey
from tests.tracker.running import running, wait_for

pytestmark = pytest.mark.integration


def cells(db: Database) -> dict[tuple[str, str], tuple[int, int, int | None, int]]:
    """(service type, region) -> (services, available, maximum, full)."""
    return {(c.service_type, c.region): (c.services, c.available, c.maximum, c.full) for c in capacity_view(db).cells}


def test_capacity_per_province_and_service_type_follows_the_directory_topic(
    tracker_db: Database, tracker_settings: TrackerSettings
) -> None:
    later = T0 + dt.timedelta(hours=1)
    publish_directory(
        tracker_settings,
        [
            service_updated("BAPAS-JAKTIM", "supervision", regions=["31.75", "31.71"], available=4, at=T0),
            service_updated("BAPAS-BANDUNG", "supervision", regions=["32.73"], available=2, at=T0),
            service_updated("KEMENSOS-REHSOS", "skills_training", regions=[], available=6, at=T0),
            service_updated("LBH-APIK", "legal_aid", regions=["31"], available=None, at=T0),
            # the Bapas rejects for capacity: full now (a later event of the same entry)
            capacity_updated("BAPAS-JAKTIM", "supervision", available=0, at=later),
            # an old event read again (a reset topic read from the start) changes nothing
            service_updated("BAPAS-BANDUNG", "supervision", regions=["32.73"], available=9, at=T0 - dt.timedelta(1)),
            # capacity of an entry never described: nothing to show it in yet
            capacity_updated("PUSKESMAS-X", "health_care", available=3, at=later),
        ],
    )
    expected = {
        ("supervision", "31"): (1, 0, 10, 1),  # two kabupaten of one province: one entry, counted once
        ("supervision", "32"): (1, 2, 10, 0),
        ("skills_training", NATIONAL): (1, 6, 10, 0),
        ("legal_aid", "31"): (1, 0, None, 0),  # says no capacity: counted as unknown, not full
    }
    with running(tracker_db, tracker_settings, kind=DirectoryConsumer):
        wait_for(lambda: cells(tracker_db) == expected)
    view = capacity_view(tracker_db)
    assert view.regions == ["31", "32", NATIONAL]
    legal = next(c for c in view.cells if c.service_type == "legal_aid")
    assert legal.unknown == 1
    full = next(c for c in view.cells if c.region == "31" and c.service_type == "supervision")
    assert full.waitlists == {"long": 1}
    assert {e.agency_code for e in view.entries} == {"BAPAS-JAKTIM", "BAPAS-BANDUNG", "KEMENSOS-REHSOS", "LBH-APIK"}


def test_referrals_named_as_the_persons_other_active_ones_are_marked_parallel(
    tracker_db: Database, tracker_settings: TrackerSettings
) -> None:
    first = Journey(service_type="psychosocial_support", to_agency="CSO-PSIKOSOSIAL").then("ReferralAccepted", hours=1)
    second = Journey(service_type="legal_aid", to_agency="LBH-APIK", start=T0 + dt.timedelta(hours=2))
    second.events[0]["parallel_referral_ids"] = [first.referral_id]
    alone = Journey()
    publish_events(tracker_settings, [*first.events, *second.events, *alone.events])
    now = utc_now()

    def marked() -> dict[str, int]:
        items, _ = list_handoffs(tracker_db, filters=HandoffFilter(), now=now, page_size=10)
        return {item.referral_id: item.parallel_referrals for item in items}

    ids = [str(j.referral_id) for j in (first, second, alone)]
    with running(tracker_db, tracker_settings):
        wait_for(lambda: marked() == dict(zip(ids, [1, 1, 0], strict=True)))
        detail = get_handoff(tracker_db, referral_id=ids[1], now=now)
        assert detail.parallel_referral_ids == [ids[0]]
        # a coordinator of the subject's province sees the link from either side
        assert get_handoff(tracker_db, referral_id=ids[0], now=now, scope="31").parallel_referral_ids == [ids[1]]
        # once the first one completes, the second is no longer parallel to anything
        publish_events(
            tracker_settings,
            first.then("ReferralStarted", hours=3).then("ReferralCompleted", hours=4, outcome="goals_met").events[-2:],
        )
        wait_for(lambda: marked() == dict(zip(ids, [0, 0, 0], strict=True)))


def test_an_erased_persons_referrals_are_no_longer_linked(
    tracker_db: Database, tracker_settings: TrackerSettings
) -> None:
    first = Journey(service_type="psychosocial_support", to_agency="CSO-PSIKOSOSIAL")
    second = Journey(service_type="legal_aid", to_agency="LBH-APIK", start=T0 + dt.timedelta(hours=2))
    second.events[0]["parallel_referral_ids"] = [first.referral_id]
    publish_events(tracker_settings, [*first.events, *second.events])
    now = utc_now()

    def marked() -> list[int]:
        items, _ = list_handoffs(tracker_db, filters=HandoffFilter(), now=now, page_size=10)
        by_id = {item.referral_id: item.parallel_referrals for item in items}
        return [by_id.get(str(j.referral_id), -1) for j in (first, second)]

    with running(tracker_db, tracker_settings):
        wait_for(lambda: marked() == [1, 1])
        second.then("SubjectErased", hours=3, by="LAPAS-CIPINANG", subject_id="sub_x", erasure_reason="request")
        publish_events(tracker_settings, second.events[-1:])
        wait_for(lambda: marked() == [0, 0])
        assert get_handoff(tracker_db, referral_id=str(second.referral_id), now=now).parallel_referral_ids == []


def test_a_persons_pathway_spans_the_cases_their_referrals_are_linked_across(
    tracker_db: Database, tracker_settings: TrackerSettings
) -> None:
    """The pathway of one subject pseudonym holds its own cases and the cases of the same person's referrals
    made by other agencies (linked when one was made while the other ran), finished ones included."""
    subject = "sub_aaaaaaaaaaaaaaaaaaaa"
    own = Journey(subject_id=subject).then("ReferralAccepted", hours=1)
    elsewhere = Journey(from_agency="POLRES-JAKTIM-PPA", to_agency="UPTD-PPA-DKI", start=T0 + dt.timedelta(hours=2))
    elsewhere.events[0]["parallel_referral_ids"] = [own.referral_id]
    elsewhere.then("ReferralAccepted", hours=3).then("ReferralStarted", hours=4)
    elsewhere.then("ReferralCompleted", hours=5, outcome="goals_met")  # finished: still on the pathway
    unrelated = Journey()
    publish_events(tracker_settings, [*own.events, *elsewhere.events, *unrelated.events])
    now = utc_now()

    def pathway() -> list[str]:
        try:
            return [h.referral_id for h in get_pathway(tracker_db, subject_id=subject, now=now)]
        except NotFound:
            return []

    with running(tracker_db, tracker_settings):
        wait_for(lambda: pathway() == [str(own.referral_id), str(elsewhere.referral_id)])
