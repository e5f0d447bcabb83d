"""SLA breaches: detected once per clock, published once each to the SLA topic, also across restarts."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from rujukan.core.codec import EventCodec
from rujukan.core.db import Database
from rujukan.tracker.breaches import BreachPublisher, breach_event_id, sweep
from rujukan.tracker.consumer import TrackerConsumer
from rujukan.tracker.models import SlaBreachRow
from rujukan.tracker.settings import TrackerSettings
from tests.kafka_helpers import read_topic
from tests.tracker.journeys import Journey

pytestmark = pytest.mark.integration
NOW = dt.datetime.now(dt.UTC)


class Record:
    def __init__(self, offset: int, value: bytes) -> None:
        self.topic, self.partition, self.offset, self.value, self.key = "t", 0, offset, value, b"k"


def _drain(db: Database, settings: TrackerSettings) -> int:
    publisher = BreachPublisher(db, settings)
    try:
        return sum(publisher.run_once() for _ in range(3))
    finally:
        publisher.close()


def test_each_breach_is_published_once(tracker_db: Database, tracker_settings: TrackerSettings) -> None:
    journey = Journey(urgency="emergency", start=NOW - dt.timedelta(hours=3))  # acknowledge due 2 h ago
    codec = EventCodec()
    TrackerConsumer(tracker_db, tracker_settings).apply(
        [Record(i, codec.encode(e)) for i, e in enumerate(journey.events)], topic_id="t"
    )
    assert _drain(tracker_db, tracker_settings) == 0  # the log alone proves no breach yet
    assert sweep(tracker_db, tracker_settings.sla_policy(), now=NOW) == 1  # the wall clock does
    assert _drain(tracker_db, tracker_settings) == 1
    assert _drain(tracker_db, tracker_settings) == 0  # a restarted publisher has nothing left to send
    assert sweep(tracker_db, tracker_settings.sla_policy(), now=NOW) == 0  # already recorded
    assert sweep(tracker_db, tracker_settings.sla_policy(), now=NOW + dt.timedelta(hours=2)) == 1  # respond clock
    assert _drain(tracker_db, tracker_settings) == 1

    records = read_topic(tracker_settings, tracker_settings.topics.sla_events, expected=2)
    events = [codec.decode(r.value).record for r in records]
    assert sorted(e["clock"] for e in events) == ["acknowledge", "respond"]
    assert {str(e["event_id"]) for e in events} == {
        breach_event_id(str(journey.referral_id), "acknowledge"),
        breach_event_id(str(journey.referral_id), "respond"),
    }
    assert all(e["referral_id"] == journey.referral_id and e["to_agency"] == "BAPAS-JAKTIM" for e in events)
    with tracker_db.read() as session:
        assert all(row.published_at is not None for row in session.exec(select(SlaBreachRow)).all())


def test_answers_in_time_produce_no_breach(tracker_db: Database, tracker_settings: TrackerSettings) -> None:
    journey = Journey(urgency="emergency", start=NOW - dt.timedelta(hours=3)).then("ReferralAccepted", hours=0.5)
    codec = EventCodec()
    TrackerConsumer(tracker_db, tracker_settings).apply(
        [Record(i, codec.encode(e)) for i, e in enumerate(journey.events)], topic_id="t"
    )
    assert sweep(tracker_db, tracker_settings.sla_policy(), now=NOW + dt.timedelta(days=30)) == 0
    assert _drain(tracker_db, tracker_settings) == 0


def test_a_late_answer_is_a_breach_proven_by_the_log(tracker_db: Database, tracker_settings: TrackerSettings) -> None:
    journey = Journey(urgency="emergency", start=NOW - dt.timedelta(hours=3)).then("ReferralAcknowledged", hours=2)
    codec = EventCodec()
    TrackerConsumer(tracker_db, tracker_settings).apply(
        [Record(i, codec.encode(e)) for i, e in enumerate(journey.events)], topic_id="t"
    )
    with tracker_db.read() as session:
        rows = session.exec(select(SlaBreachRow)).all()
    assert [(r.clock, r.detected_at) for r in rows] == [("acknowledge", journey.events[1]["occurred_at"])]
