"""The tracker consumer against the real embedded broker, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from sqlmodel import select

from rujukan.core.codec import EventCodec
from rujukan.core.db import Database
from rujukan.core.kafka.chain_consumer import ChainConsumer
from rujukan.core.kafka.topics import make_admin, topic_id
from rujukan.tracker.batch import apply_events
from rujukan.tracker.consumer import TrackerConsumer
from rujukan.tracker.models import ConsumerPosition, HandoffRow, HistoryRow, ProcessedEvent
from rujukan.tracker.settings import TrackerSettings
from tests.brokers import own_broker
from tests.kafka_helpers import own_topics, publish_events, read_topic
from tests.tracker.journeys import Journey
from tests.tracker.running import running, wait_for

pytestmark = pytest.mark.integration
CODEC = EventCodec()


def journeys() -> list[Journey]:
    return [
        Journey()
        .then("ReferralAcknowledged", hours=1)
        .then("ReferralAccepted", hours=2)
        .then("ReferralStarted", hours=3)
        .then("ReferralCompleted", hours=9, outcome="goals_met"),
        Journey().then("ReferralRejected", hours=1),
        Journey(urgency="emergency").then("ReferralNoteAdded", hours=1, by="LAPAS-CIPINANG"),
        Journey().then("ReferralAccepted", hours=1).then("ReferralStarted", hours=2).then("ReferralPutOnHold", hours=3),
    ]


EXPECTED = ["completed", "rejected", "requested", "on_hold"]


def publish(settings: TrackerSettings, events: list[dict[str, Any]], *, raw: list[bytes] | None = None) -> None:
    publish_events(settings, events, raw=raw)


def statuses(db: Database, journeys: list[Journey]) -> list[str | None]:
    with db.read() as session:
        rows = {row.referral_id: row.status for row in session.exec(select(HandoffRow)).all()}
    return [rows.get(str(j.referral_id)) for j in journeys]


def history_count(db: Database) -> int:
    with db.read() as session:
        return len(session.exec(select(HistoryRow)).all())


def test_events_are_applied_once_even_when_delivered_twice(
    tracker_db: Database, tracker_settings: TrackerSettings
) -> None:
    sample = journeys()
    events = [e for j in sample for e in j.events]
    publish(tracker_settings, events + events)  # every event twice
    with running(tracker_db, tracker_settings):
        wait_for(lambda: statuses(tracker_db, sample) == EXPECTED)
        wait_for(lambda: _processed(tracker_db) == len(events))
        time.sleep(0.5)
    assert history_count(tracker_db) == len(events)
    with tracker_db.read() as session:
        done = session.get(HandoffRow, str(sample[0].referral_id))
        assert done is not None
        assert done.completed_at == sample[0].events[-1]["occurred_at"]


def test_two_trackers_on_one_database_apply_every_event_once(
    tracker_db: Database, tracker_settings: TrackerSettings
) -> None:
    """Tracker replicas each consume into the shared database (ADR 0006): racing on every batch, they
    still apply each event once and agree with one tracker."""
    sample = [journey for _ in range(25) for journey in journeys()]
    events = [e for j in sample for e in j.events]
    publish(tracker_settings, events)
    with running(tracker_db, tracker_settings), running(tracker_db, tracker_settings):
        wait_for(lambda: statuses(tracker_db, sample) == EXPECTED * 25, timeout=60)
        wait_for(lambda: _processed(tracker_db) == len(events))
        time.sleep(0.5)
    assert history_count(tracker_db) == len(events)


def _processed(db: Database) -> int:
    with db.read() as session:
        return len(session.exec(select(ProcessedEvent)).all())


def test_redelivery_after_a_crash_before_the_offset_commit_changes_nothing(
    tracker_db: Database, tracker_settings: TrackerSettings
) -> None:
    sample = journeys()
    events = [e for j in sample for e in j.events]
    consumer = TrackerConsumer(tracker_db, tracker_settings)
    records = [
        _Record(tracker_settings.topics.referral_events, 0, offset, CODEC.encode(e)) for offset, e in enumerate(events)
    ]
    first = consumer.apply(records, topic_id=str(uuid.uuid4()))
    assert first.applied == len(events)
    # The process died after the database commit; Kafka delivers the same records again.
    again = TrackerConsumer(tracker_db, tracker_settings).apply(records, topic_id=str(uuid.uuid4()))
    assert (again.applied, again.duplicates) == (0, len(events))
    assert statuses(tracker_db, sample) == EXPECTED
    assert history_count(tracker_db) == len(events)


class _Record:
    def __init__(self, topic: str, partition: int, offset: int, value: bytes) -> None:
        self.topic, self.partition, self.offset, self.value, self.key = topic, partition, offset, value, b"k"


def test_a_restarted_consumer_resumes_from_its_stored_position(
    tracker_db: Database, tracker_settings: TrackerSettings
) -> None:
    first, second = journeys()[:2], journeys()[2:]
    publish(tracker_settings, [e for j in first for e in j.events])
    with running(tracker_db, tracker_settings):
        wait_for(lambda: statuses(tracker_db, first) == EXPECTED[:2])
    publish(tracker_settings, [e for j in second for e in j.events])
    with running(tracker_db, tracker_settings):  # a new process: positions come from the database
        wait_for(lambda: statuses(tracker_db, second) == EXPECTED[2:])
    assert history_count(tracker_db) == sum(len(j.events) for j in first + second)


def test_poison_messages_are_dead_lettered_and_the_partition_moves_on(
    tracker_db: Database, tracker_settings: TrackerSettings
) -> None:
    good = Journey()
    created_by_responder = {**Journey().events[0], "actor_agency": "BAPAS-JAKTIM"}
    orphan = dict(Journey().then("ReferralAccepted", hours=1).events[1])  # seq 2 of an unknown referral
    poison = [b"\x00random bytes", b"\xc3\x01" + b"\x11" * 8 + b"body"]
    publish(tracker_settings, [created_by_responder, orphan], raw=poison)
    publish(tracker_settings, good.events)
    with running(tracker_db, tracker_settings):
        wait_for(lambda: statuses(tracker_db, [good]) == ["requested"])
    dead = read_topic(tracker_settings, tracker_settings.topics.dead_letter, expected=4)
    reasons = sorted(dict(r.headers)["dlq.error.class"].decode() for r in dead)
    assert reasons == ["ProjectionError", "ProjectionError", "UnknownFingerprint", "WrongMagic"]
    for record in dead:
        headers = {k: v.decode() for k, v in record.headers}
        assert headers["dlq.source.topic"] == tracker_settings.topics.referral_events
        assert headers["dlq.consumer"] == "tracker-v1"
        assert int(headers["dlq.source.offset"]) >= 0


def test_a_new_log_served_at_the_old_logs_offsets_is_never_applied(
    tracker_settings: TrackerSettings, tracker_db: Database
) -> None:
    """Found in CI: a broker that lost its log serves the new one at the offsets the consumer had reached
    in the old one. Read there, the sixth event of a referral whose first five sit below that offset looks
    like a broken chain; it was dead-lettered, recorded as processed, and skipped when the new log was read
    again from 0, so the referral never reached its status. The topic id is now checked first."""
    settings = tracker_settings.model_copy(update={"topics": own_topics(partitions=1)})
    old = Journey().then("ReferralAccepted", hours=1).then("ReferralStarted", hours=2)
    new = Journey().then("ReferralAcknowledged", hours=1).then("ReferralAccepted", hours=2)
    new.then("ReferralStarted", hours=3).then("ReferralPutOnHold", hours=4).then("ReferralStarted", hours=5)
    publish(settings, old.events + old.events[:2])  # five messages: the consumer reaches offset 5
    with running(tracker_db, settings):
        wait_for(lambda: statuses(tracker_db, [old]) == ["in_progress"])
        wait_for(lambda: _outcomes(tracker_db) == Counter(applied=3))
        admin = make_admin(settings)
        try:
            before = topic_id(admin, settings.topics.referral_events)
            assert before is not None
            admin.delete_topics([settings.topics.referral_events])
            # Gone, or already made again by the consumer, which creates Rujukan's topics when it finds none.
            wait_for(lambda: topic_id(admin, settings.topics.referral_events) != before)
        finally:
            admin.close()
        publish(settings, new.events)  # the sixth event lands at offset 5
        wait_for(lambda: statuses(tracker_db, [old, new]) == ["in_progress", "in_progress"])
    assert _outcomes(tracker_db) == Counter(applied=9)  # nothing dead-lettered


def _outcomes(db: Database) -> Counter[str]:
    with db.read() as session:
        return Counter(row.outcome for row in session.exec(select(ProcessedEvent)).all())


def test_a_broker_log_reset_is_followed_and_deduplicated(
    tracker_settings: TrackerSettings, tracker_db: Database, tmp_path: Path
) -> None:
    sample = journeys()
    events = [e for j in sample for e in j.events]
    with own_broker(tmp_path) as broker:
        settings = tracker_settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})
        publish(settings, events[:5])
        with running(tracker_db, settings):
            wait_for(lambda: _processed(tracker_db) == 5)
            broker.restart()  # embedded: everything is gone and the relay republishes; Kafka: the log stays
            publish(settings, events)
            wait_for(lambda: statuses(tracker_db, sample) == EXPECTED, timeout=60)
            wait_for(lambda: _processed(tracker_db) == len(events))
    assert history_count(tracker_db) == len(events)


def test_a_batch_that_hits_an_integrity_error_is_read_again_and_applied_once(
    tracker_settings: TrackerSettings, tracker_db: Database
) -> None:
    """Another consumer may store an event's processed row first (a rebalance, a watchdog rebuild): the
    batch fails with an IntegrityError, nothing of it is committed, and the consumer reads it again from
    its stored positions, skipping what was applied. It once killed the consumer for good."""
    sample = journeys()
    events = [e for j in sample for e in j.events]
    publish(tracker_settings, events)
    policy = tracker_settings.sla_policy()
    collisions: list[str] = []

    def colliding(session: Any, batch: list[Any], dead_letter: Any, result: Any) -> None:
        if not collisions:  # the first batch: the same processed row twice, as two consumers would write it
            collisions.append(str(batch[0][1]["event_id"]))
            row = {"event_id": collisions[0], "outcome": "applied"}
            session.execute(insert(ProcessedEvent.__table__), [row])  # type: ignore[attr-defined]
            session.execute(insert(ProcessedEvent.__table__), [row])  # type: ignore[attr-defined]
        apply_events(session, batch, policy=policy, dead_letter=dead_letter, result=result)

    consumer = ChainConsumer(
        tracker_db,
        tracker_settings,
        name="tracker-v1",
        group_id=tracker_settings.tracker_group_id,
        positions=ConsumerPosition,
        applier=colliding,
    )
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: statuses(tracker_db, sample) == EXPECTED, timeout=60)
        wait_for(lambda: _processed(tracker_db) == len(events))
    finally:
        stop.set()
        thread.join(30)
    assert len(collisions) == 1
    assert history_count(tracker_db) == len(events)
