"""The notifier end to end: real embedded broker, real databases (SQLite and PostgreSQL), a real HTTP
receiver on loopback. Every delivered signature is verified with the standardwebhooks library."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from standardwebhooks.webhooks import Webhook

from rujukan.core import tlog
from rujukan.core.broker import free_port
from rujukan.core.codec import EventCodec
from rujukan.core.db import Database
from rujukan.notifier.deliveries import failed_ids, list_deliveries, redeliver
from rujukan.notifier.dispatch import Dispatcher
from rujukan.notifier.models import DeliveryRow, SubscriptionRow
from rujukan.notifier.retry import DeliveryStatus
from rujukan.notifier.service import consumers
from rujukan.notifier.settings import NotifierSettings
from rujukan.notifier.subscriptions import Owner, OwnerKind, set_subscription
from tests.brokers import own_broker
from tests.kafka_helpers import publish_events, read_topic
from tests.notifier.receiver import Behaviour, Received, Receiver
from tests.notifier.running import running
from tests.tracker.journeys import REQUESTER, RESPONDER, Journey
from tests.tracker.running import wait_for

pytestmark = pytest.mark.integration
CANARY = "CANARY-3175010101900001"


def subscribe(db: Database, settings: NotifierSettings, agency: str, url: str, **kwargs: Any) -> str:
    return set_subscription(db, settings, Owner(OwnerKind.AGENCY, agency), url=url, **kwargs)[1]


def verified(received: list[Received], secret: str) -> list[dict[str, Any]]:
    """The bodies, each after its signature was verified by the reference library."""
    return [Webhook(secret).verify(r.body, r.headers) for r in received]


def with_canaries(journey: Journey) -> Journey:
    """Plant a canary in every field that could identify the subject."""
    for event in journey.events:
        for name in list(event):
            if name.startswith("sealed_") and event[name] is not None:
                event[name] = CANARY.encode()
        if "subject_id" in event:
            event["subject_id"] = f"sub_{CANARY}"
    return journey


def sample() -> list[Journey]:
    return [
        with_canaries(
            Journey()
            .then("ReferralAcknowledged", hours=1)
            .then("ReferralAccepted", hours=2)
            .then("ReferralStarted", hours=3)
            .then("ReferralCompleted", hours=9)
        ),
        with_canaries(Journey().then("ReferralRejected", hours=1)),
        with_canaries(Journey().then("ReferralNoteAdded", hours=1, by=REQUESTER)),
        with_canaries(Journey().then("ReferralCancelled", hours=1)),
    ]


def breach(journey: Journey) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4(),
        "event_type": "SlaBreached",
        "occurred_at": journey.start + dt.timedelta(hours=25),
        "referral_id": journey.referral_id,
        "case_id": journey.case_id,
        "seq": 1,
        "prev_hash": None,
        "actor_agency": "RUJUKAN-TRACKER",
        "clock": "acknowledge",
        "due_at": journey.start + dt.timedelta(hours=24),
        "from_agency": journey.from_agency,
        "to_agency": journey.to_agency,
        "urgency": "urgent",
        "service_type": "supervision",
    }


def deliveries(db: Database) -> list[DeliveryRow]:
    with db.read() as session:
        return list(session.exec(select(DeliveryRow).order_by(DeliveryRow.id)).all())  # type: ignore[arg-type]


def test_each_party_hears_the_others_events_signed_in_order_exactly_once(
    notifier_db: Database, notifier_settings: NotifierSettings
) -> None:
    journeys = sample()
    events = [e for j in journeys for e in j.events]
    with Receiver() as receiver:
        lapas = subscribe(notifier_db, notifier_settings, REQUESTER, receiver.url("/lapas"))
        bapas = subscribe(notifier_db, notifier_settings, RESPONDER, receiver.url("/bapas"))
        coordinator = set_subscription(
            notifier_db, notifier_settings, Owner(OwnerKind.COORDINATOR, "Dinsos DKI"), url=receiver.url("/dinsos")
        )[1]
        publish_events(notifier_settings, events + events)  # every event twice: at least once in
        publish_events(notifier_settings, [breach(journeys[2])], topic=notifier_settings.topics.sla_events)
        with running(notifier_db, notifier_settings):
            # LAPAS hears the four answers of journey 0 and the rejection of journey 1 (+ a breach);
            # BAPAS hears four new referrals, the note and the cancellation (+ the breach); the coordinator
            # hears the breach.
            wait_for(lambda: (len(receiver.at("/lapas")), len(receiver.at("/bapas"))) == (6, 7))
            wait_for(lambda: len(receiver.at("/dinsos")) == 1)
            time.sleep(1.0)  # anything sent twice would arrive now
        to_lapas = verified(receiver.at("/lapas"), lapas)
        to_bapas = verified(receiver.at("/bapas"), bapas)
        to_dinsos = verified(receiver.at("/dinsos"), coordinator)
    assert len(to_lapas) == 6
    assert len(to_bapas) == 7
    assert len(to_dinsos) == 1
    assert [m["type"] for m in to_lapas if m["data"]["referral_id"] == str(journeys[0].referral_id)] == [
        "referral.acknowledged",
        "referral.accepted",
        "referral.started",
        "referral.completed",
    ]
    assert sorted(m["type"] for m in to_bapas) == sorted(
        ["referral.requested"] * 4 + ["referral.note_added", "referral.cancelled", "sla.breached"]
    )
    assert to_dinsos[0]["type"] == "sla.breached"
    assert to_dinsos[0]["data"]["clock"] == "acknowledge"
    leaves = {str(event["event_id"]): index for index, event in enumerate(events)}  # as publish_events numbers
    hashes = {str(event["event_id"]): tlog.leaf_hash(EventCodec().encode(event)) for event in events}
    for message in to_lapas + to_bapas:
        event_id = message["data"]["event_id"]
        assert message["data"].get("log_index") == leaves.get(event_id), message["type"]
        leaf = message["data"].get("leaf_hash")
        assert (base64.b64decode(leaf) if leaf else None) == hashes.get(event_id), message["type"]
    completed = next(m for m in to_lapas if m["type"] == "referral.completed")
    assert completed["data"]["status"] == "completed"
    assert completed["data"]["outcome"] == "goals_met"
    everything = b"".join(r.body for r in receiver.received)
    assert CANARY.encode() not in everything
    assert base64.b64encode(CANARY.encode()) not in everything
    assert all(r.headers["webhook-id"] == json.loads(r.body)["data"]["event_id"] for r in receiver.received)


def test_a_receiver_down_for_a_while_gets_everything_once_in_order(
    notifier_db: Database, notifier_settings: NotifierSettings
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/bapas"
    secret = subscribe(notifier_db, notifier_settings, RESPONDER, url)
    journeys = [
        Journey()
        .then("ReferralNoteAdded", hours=1, by=REQUESTER)
        .then("ReferralNoteAdded", hours=2, by=REQUESTER)
        .then("ReferralCancelled", hours=3)
        for _ in range(8)
    ]
    publish_events(notifier_settings, [e for j in journeys for e in j.events])
    with running(notifier_db, notifier_settings):
        wait_for(lambda: any(d.attempts >= 3 for d in deliveries(notifier_db)))  # down: retried, not lost
        with Receiver(port) as receiver:
            wait_for(lambda: len(receiver.at("/bapas")) >= 32)
            time.sleep(1.0)
            messages = verified(receiver.at("/bapas"), secret)
    assert len(messages) == 32
    assert len({m["data"]["event_id"] for m in messages}) == 32  # each exactly once
    for journey in journeys:
        seqs = [m["data"]["seq"] for m in messages if m["data"]["referral_id"] == str(journey.referral_id)]
        assert seqs == [1, 2, 3, 4]  # in per-referral order, although the first ones were retried
    assert all(d.status == DeliveryStatus.DELIVERED for d in deliveries(notifier_db))


def test_410_disables_the_subscription_dead_letters_and_redelivery_recovers(
    notifier_db: Database, notifier_settings: NotifierSettings
) -> None:
    journey = Journey().then("ReferralAcknowledged", hours=1).then("ReferralAccepted", hours=2)
    with Receiver() as receiver:
        receiver.behaviour["/gone"] = Behaviour(statuses=[410])
        subscribe(notifier_db, notifier_settings, REQUESTER, receiver.url("/gone"))
        publish_events(notifier_settings, journey.events)
        with running(notifier_db, notifier_settings):
            wait_for(lambda: len(failed_ids(notifier_db, owner=REQUESTER)) == 2)
            dead = read_topic(notifier_settings, notifier_settings.topics.dead_letter, expected=2)
            assert len(receiver.at("/gone")) == 1  # the second was not even tried: the subscription is off
            with notifier_db.read() as session:
                subscription = session.exec(select(SubscriptionRow)).one()
            assert not subscription.enabled
            assert "410" in str(subscription.disabled_reason)
            page = list_deliveries(notifier_db, owner=REQUESTER, status=DeliveryStatus.FAILED)
            assert {d.last_status_code for d in page.items} == {410, None}
            assert len(dead) == 2
            headers = {k: v.decode() for k, v in dead[0].headers}
            assert headers["dlq.delivery.owner"] == REQUESTER
            assert headers["dlq.consumer"] == "notifier-v1"
            assert json.loads(dead[0].value)["type"] == "referral.acknowledged"

            secret = subscribe(notifier_db, notifier_settings, REQUESTER, receiver.url("/lapas"))
            for delivery_id in failed_ids(notifier_db, owner=REQUESTER):
                redeliver(notifier_db, delivery_id, owner=REQUESTER)
            wait_for(lambda: len(receiver.at("/lapas")) == 2)
        types = [m["type"] for m in verified(receiver.at("/lapas"), secret)]
    assert types == ["referral.acknowledged", "referral.accepted"]


class ManualClock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self.now

    def advance(self, **delta: float) -> None:
        with self._lock:
            self.now += dt.timedelta(**delta)


def test_429_retry_after_is_honoured_on_the_injected_clock(
    notifier_db: Database, notifier_settings: NotifierSettings
) -> None:
    clock = ManualClock()
    start = clock()
    journey = Journey()
    with Receiver() as receiver:
        receiver.behaviour["/bapas"] = Behaviour(statuses=[429, 204], retry_after="7200")
        secret = subscribe(notifier_db, notifier_settings, RESPONDER, receiver.url("/bapas"))
        publish_events(notifier_settings, journey.events)
        with running(notifier_db, notifier_settings, clock=clock):
            wait_for(lambda: len(receiver.at("/bapas")) == 1)
            wait_for(lambda: deliveries(notifier_db)[0].attempts == 1)
            (row,) = deliveries(notifier_db)
            assert row.status == "pending"
            assert row.next_attempt_at == start + dt.timedelta(hours=2)
            clock.advance(seconds=7199)
            time.sleep(1.5)  # the dispatcher polls twice a second: it had its chances to retry too early
            assert len(receiver.at("/bapas")) == 1
            clock.advance(seconds=1)
            wait_for(lambda: deliveries(notifier_db)[0].status == "delivered")
        assert len(verified(receiver.at("/bapas"), secret)) == 2


def test_a_hanging_endpoint_does_not_delay_other_agencies(
    notifier_db: Database, notifier_settings: NotifierSettings
) -> None:
    settings = notifier_settings.model_copy(update={"webhook_workers": 8, "webhook_max_in_flight": 2})
    slow, fast = "LAPAS-LAMBAT", "BAPAS-CEPAT"
    to_slow = [Journey(from_agency=fast, to_agency=slow) for _ in range(20)]
    to_fast = [Journey(from_agency=slow, to_agency=fast) for _ in range(20)]
    with Receiver() as receiver:
        receiver.behaviour["/slow"] = Behaviour(hang_s=5.0)  # longer than the 2 s delivery timeout
        subscribe(notifier_db, settings, slow, receiver.url("/slow"))
        secret = subscribe(notifier_db, settings, fast, receiver.url("/fast"))
        with running(notifier_db, settings):
            publish_events(settings, [e for j in to_slow for e in j.events])
            wait_for(lambda: len(receiver.at("/slow")) >= 2)  # the slow receiver is hanging now
            published = time.monotonic()
            publish_events(settings, [e for j in to_fast for e in j.events])
            wait_for(lambda: len(receiver.at("/fast")) == 20, timeout=30)
            fast_took = max(r.at for r in receiver.at("/fast")) - published
            slow_seen = len(receiver.at("/slow"))
        assert len(verified(receiver.at("/fast"), secret)) == 20
    print(f"\n20 deliveries to a fast agency took {fast_took:.2f} s while another agency hung ({slow_seen} tries)")
    # With a shared queue the 8 workers would wait on the hanging receiver in rounds of 2 s (the timeout):
    # 20 slow deliveries ahead would hold the fast ones back by about 6 s.
    assert fast_took < 2.0
    assert slow_seen <= 6  # the hanging receiver only ever had its own 2 workers


def test_a_broker_log_reset_sends_nothing_twice(
    notifier_db: Database, notifier_settings: NotifierSettings, tmp_path: Path
) -> None:
    journeys = sample()
    events = [e for j in journeys for e in j.events]
    with own_broker(tmp_path) as broker, Receiver() as receiver:
        settings = notifier_settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})
        subscribe(notifier_db, settings, RESPONDER, receiver.url("/bapas"))
        subscribe(notifier_db, settings, REQUESTER, receiver.url("/lapas"))
        publish_events(settings, events[:6])  # journey 0 and the creation of journey 1
        with running(notifier_db, settings):
            wait_for(lambda: len(receiver.received) == 6)
            broker.restart()  # embedded: the log is gone and the relay republishes it; Kafka: the log stays
            publish_events(settings, events)
            wait_for(lambda: len(receiver.received) == 11, timeout=60)
            time.sleep(1.5)
    ids = [json.loads(r.body)["data"]["event_id"] for r in receiver.received]
    assert len(ids) == 11
    assert len(set(ids)) == 11


def test_an_address_that_turned_private_is_refused_at_delivery(
    notifier_db: Database, notifier_settings: NotifierSettings
) -> None:
    """The SSRF guard runs again before each attempt: a name may resolve elsewhere than when it was set."""
    journey = Journey()
    publish_events(notifier_settings, journey.events)
    with Receiver() as receiver:
        subscribe(notifier_db, notifier_settings, RESPONDER, receiver.url("/bapas"))
        strict = notifier_settings.model_copy(update={"webhook_allowed_networks": []})
        consumer = consumers(notifier_db, notifier_settings)[0]
        stop = threading.Event()
        thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
        thread.start()
        try:
            wait_for(lambda: len(deliveries(notifier_db)) == 1)
        finally:
            stop.set()
            thread.join(30)
        dispatcher = Dispatcher(notifier_db, strict)
        try:
            (row,) = deliveries(notifier_db)
            dispatcher.attempt(int(row.id or 0))
        finally:
            dispatcher.close()
        assert receiver.received == []
    (row,) = deliveries(notifier_db)
    assert row.status == "failed"
    assert "non-public address" in str(row.last_error)


def test_an_attempt_that_fails_unexpectedly_counts_and_waits_for_its_retry(
    notifier_db: Database, notifier_settings: NotifierSettings
) -> None:
    """A bug inside an attempt (here the resolver) must not make the dispatcher try the same delivery again
    and again at once: it counts as a failed attempt and is retried on the schedule (it once looped
    hundreds of times a second with ``attempts`` staying 0)."""
    journey = Journey()
    publish_events(notifier_settings, journey.events)
    with Receiver() as receiver:
        subscribe(notifier_db, notifier_settings, RESPONDER, receiver.url("/bapas"))
        consumer = consumers(notifier_db, notifier_settings)[0]
        stop = threading.Event()
        thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
        thread.start()
        try:
            wait_for(lambda: len(deliveries(notifier_db)) == 1)
        finally:
            stop.set()
            thread.join(30)

        calls: list[str] = []

        def broken_resolver(host: str, port: int) -> list[str]:
            calls.append(host)
            raise RuntimeError("a bug")

        slow_retry = notifier_settings.model_copy(update={"webhook_first_retry_s": 60.0, "webhook_max_retry_s": 120.0})
        dispatcher = Dispatcher(notifier_db, slow_retry, resolver=broken_resolver)
        before = dt.datetime.now(dt.UTC)  # the attempt comes after this
        stop = threading.Event()
        thread = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True)
        thread.start()
        try:
            wait_for(lambda: deliveries(notifier_db)[0].attempts == 1)
            time.sleep(1.0)
        finally:
            stop.set()
            thread.join(30)
    (row,) = deliveries(notifier_db)
    assert len(calls) == 1
    assert row.attempts == 1
    assert row.status == "pending"
    assert "internal error (RuntimeError)" in str(row.last_error)
    assert row.next_attempt_at is not None
    # the first retry waits half to all of 60 s (jitter): at least 30 s after the attempt
    assert row.next_attempt_at >= before + dt.timedelta(seconds=30)
