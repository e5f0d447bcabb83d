"""The outbox relay against the real embedded broker, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from kafka.errors import KafkaError
from sqlmodel import select

from rujukan.core.broker import Broker
from rujukan.core.codec import EventCodec
from rujukan.core.kafka.topics import describe_topic, ensure_topics, make_admin
from rujukan.core.lifecycle import Action
from rujukan.referral.act import act_on_referral
from rujukan.referral.commands import ActionBody, CreateReferral
from rujukan.referral.context import ReferralContext
from rujukan.referral.create import create_referral
from rujukan.referral.models import ReferralEvent
from rujukan.referral.relay import Relay
from rujukan.referral.settings import ReferralSettings
from tests.brokers import APACHE_KAFKA, own_broker
from tests.kafka_helpers import own_topics, read_topic
from tests.referral.conftest import referral_body

pytestmark = pytest.mark.integration


def _relay_settings(settings: ReferralSettings, bootstrap: str) -> ReferralSettings:
    return settings.model_copy(update={"kafka_bootstrap": bootstrap, "topics": own_topics()})


def make_referrals(ctx: ReferralContext, count: int, *, pause_s: float = 0.0) -> dict[str, int]:
    """``count`` referrals with 1-3 events each (``pause_s`` after each); the number of events per id."""
    events: dict[str, int] = {}
    for index in range(count):
        created = create_referral(ctx, agency="LAPAS-CIPINANG", request=CreateReferral.model_validate(referral_body()))
        referral_id = created.referral.id
        events[referral_id] = 1
        for action in [Action.ACKNOWLEDGE, Action.ACCEPT][: index % 3]:
            act_on_referral(ctx, agency="BAPAS-JAKTIM", referral_id=referral_id, action=action, body=ActionBody())
            events[referral_id] += 1
        time.sleep(pause_s)
    return events


def _drain(relay: Relay, *, rounds: int = 50) -> int:
    total = 0
    for _ in range(rounds):
        published = relay.run_once()
        total += published
        if published == 0:
            break
    return total


def _per_referral(records: list[Any]) -> dict[str, list[int]]:
    codec = EventCodec()
    seqs: dict[str, list[int]] = defaultdict(list)
    for record in records:
        event = codec.decode(record.value).record
        assert record.key == str(event["referral_id"]).encode()
        assert dict(record.headers)["event_id"] == str(event["event_id"]).encode()
        seqs[str(event["referral_id"])].append(event["seq"])
    return seqs


def _unpublished(ctx: ReferralContext) -> int:
    with ctx.read() as session:
        return len(session.exec(select(ReferralEvent).where(ReferralEvent.published_at == None)).all())  # noqa: E711


def test_relay_publishes_every_event_in_per_referral_order_and_marks_it(
    ctx: ReferralContext, settings: ReferralSettings, broker: Broker
) -> None:
    relay_settings = _relay_settings(settings, broker.bootstrap)
    expected = make_referrals(ctx, 12)
    relay = Relay(ctx, relay_settings, batch_size=5)
    try:
        assert _drain(relay) == sum(expected.values())
        assert _unpublished(ctx) == 0
        assert relay.run_once() == 0
    finally:
        relay.close()
    records = read_topic(relay_settings, relay_settings.topics.referral_events, expected=sum(expected.values()))
    seqs = _per_referral(records)
    assert {rid: len(s) for rid, s in seqs.items()} == expected
    assert all(s == list(range(1, len(s) + 1)) for s in seqs.values())


def test_a_relay_killed_between_send_and_mark_resends_and_skips_nothing(
    ctx: ReferralContext, settings: ReferralSettings, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay_settings = _relay_settings(settings, broker.bootstrap)
    expected = make_referrals(ctx, 6)
    crashing = Relay(ctx, relay_settings)

    def crash(positions: list[int]) -> None:
        raise SystemExit("killed after send, before mark")

    monkeypatch.setattr(crashing, "_mark_published", crash)
    with pytest.raises(SystemExit):
        crashing.run_once()
    crashing.close()
    assert _unpublished(ctx) == sum(expected.values())

    relay = Relay(ctx, relay_settings)
    try:
        _drain(relay)
    finally:
        relay.close()
    records = read_topic(relay_settings, relay_settings.topics.referral_events, expected=2 * sum(expected.values()))
    seqs = _per_referral(records)
    for referral_id, count in expected.items():
        assert seqs[referral_id] == list(range(1, count + 1)) * 2  # duplicated, in order, nothing skipped


def test_after_a_broker_restart_the_topic_holds_every_event_once(
    ctx: ReferralContext, settings: ReferralSettings, tmp_path: Path
) -> None:
    """The embedded broker forgets its log on a restart: the relay republishes the event store into it.
    Apache Kafka keeps its log: the relay goes on where it was and republishes nothing. Either way the
    topic then holds every event exactly once, in order."""
    with own_broker(tmp_path) as broker:
        relay_settings = _relay_settings(settings, broker.bootstrap)
        relay = Relay(ctx, relay_settings)
        try:
            first = make_referrals(ctx, 4)
            _drain(relay)
            broker.restart()
            second = make_referrals(ctx, 3)
            published = 0
            for _ in range(100):  # the first rounds fail until the producer is rebuilt
                try:
                    published += _drain(relay)
                except (KafkaError, OSError):  # the old producer dies with the old broker
                    relay.close()
                if _unpublished(ctx) == 0 and published:
                    break
        finally:
            relay.close()
        total = sum(first.values()) + sum(second.values())
        records = read_topic(relay_settings, relay_settings.topics.referral_events, expected=total)
    seqs = _per_referral(records)
    assert {rid: len(s) for rid, s in seqs.items()} == {**first, **second}
    assert all(s == list(range(1, len(s) + 1)) for s in seqs.values())


@pytest.mark.skipif(APACHE_KAFKA, reason="Apache Kafka refuses a write to a partition the topic lacks")
def test_no_event_is_marked_published_on_a_partition_no_consumer_can_see(
    ctx: ReferralContext, settings: ReferralSettings, broker: Broker
) -> None:
    """Found in a double broker kill: the topic came back with 4 partitions (the embedded broker's
    auto-creation) while the relay's producer still knew 6, and the broker acknowledged the writes to
    partitions 4 and 5, which no consumer can see. The relay must not count those as published."""
    relay_settings = settings.model_copy(
        update={"kafka_bootstrap": broker.bootstrap, "topics": own_topics(partitions=6)}
    )
    topic = relay_settings.topics.referral_events
    relay = Relay(ctx, relay_settings)
    admin = make_admin(relay_settings)
    try:
        first = make_referrals(ctx, 6)
        _drain(relay)  # the producer now knows 6 partitions
        admin.delete_topics([topic])
        fewer = relay_settings.model_copy(update={"topics": relay_settings.topics.model_copy(update={"partitions": 4})})
        ensure_topics(admin, fewer, [topic])
        assert len(describe_topic(admin, topic)[1]) == 4
        second = make_referrals(ctx, 12)
        for _ in range(5):  # a round that found unreadable writes publishes nothing; the next one resends
            _drain(relay)
        assert _unpublished(ctx) == 0
    finally:
        admin.close()
        relay.close()
    total = sum(first.values()) + sum(second.values())
    records = read_topic(relay_settings, topic, expected=total)
    seqs = _per_referral(records)
    assert {rid: sorted(set(s)) for rid, s in seqs.items()} == {
        rid: list(range(1, count + 1)) for rid, count in {**first, **second}.items()
    }
