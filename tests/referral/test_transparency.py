"""The transparency log of the referral service against the real broker, on SQLite and PostgreSQL: the relay
gives every stored event its leaf, publishes it with its index and signature, signs checkpoints over what it
published, refuses an event nobody signed, and the API hands out proofs that verify."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import replace
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import insert, update
from sqlmodel import col, select

from rujukan.core import tlog
from rujukan.core.broker import Broker
from rujukan.core.db import alembic_config
from rujukan.core.kafka.outbox import OutboxPublisher
from rujukan.core.signatures import SigningKeyError, SigningKeys
from rujukan.referral.checkpoints import sign_checkpoint
from rujukan.referral.context import ReferralContext
from rujukan.referral.eventstore import chain_event
from rujukan.referral.migrate import MIGRATIONS
from rujukan.referral.models import LogCheckpoint, LogState, Referral, ReferralEvent
from rujukan.referral.relay import CheckpointOutbox, Relay
from rujukan.referral.settings import ReferralSettings
from rujukan.referral.transparency import adopt_log, refused_alarm, sequence
from tests.audit.chains import Writer, reencode
from tests.kafka_helpers import own_topics, read_topic
from tests.referral.conftest import Agencies, referral_body
from tests.referral.test_relay import make_referrals

pytestmark = pytest.mark.integration


def relay_for(ctx: ReferralContext, settings: ReferralSettings, broker: Broker) -> tuple[Relay, ReferralSettings]:
    relay_settings = settings.model_copy(
        update={"kafka_bootstrap": broker.bootstrap, "topics": own_topics(), "checkpoint_interval_s": 0.01}
    )
    return Relay(ctx, relay_settings), relay_settings


def drain(relay: Relay) -> None:
    for _ in range(20):
        if relay.run_once() == 0:
            return


def stored(ctx: ReferralContext) -> list[ReferralEvent]:
    with ctx.read() as session:
        return list(session.exec(select(ReferralEvent).order_by(col(ReferralEvent.position))).all())


def test_every_event_is_a_signed_leaf_and_the_checkpoint_is_the_root_of_the_store(
    ctx: ReferralContext, settings: ReferralSettings, broker: Broker
) -> None:
    events = sum(make_referrals(ctx, 9).values())
    relay, relay_settings = relay_for(ctx, settings, broker)
    try:
        drain(relay)
        sign_checkpoint(ctx)
    finally:
        relay.close()
    rows = stored(ctx)
    assert sorted(r.log_index for r in rows if r.log_index is not None) == list(range(events))
    records = read_topic(relay_settings, relay_settings.topics.referral_events, expected=events)
    public = ctx.signing.public
    by_index = {}
    for record in records:
        headers = dict(record.headers)
        assert public.event_problem(record.value, headers["signature"]) is None
        by_index[int(headers["log_index"])] = record.value
    assert sorted(by_index) == list(range(events))

    with ctx.read() as session:
        [checkpoint] = session.exec(select(LogCheckpoint)).all()
    opened = tlog.Checkpoint.open(checkpoint.note, public.log.name, public.log.public)
    assert opened.size == events
    assert opened.root_hash == tlog.root_of([tlog.leaf_hash(by_index[i]) for i in range(events)])
    assert sign_checkpoint(ctx) is None  # nothing new: no new checkpoint
    topic = relay_settings.topics.audit_checkpoints
    checkpoints = OutboxPublisher(relay_settings, CheckpointOutbox(ctx, topic), topic=topic, name="checkpoints")
    try:
        assert checkpoints.run_once() == 1
    finally:
        checkpoints.close()
    published = read_topic(relay_settings, relay_settings.topics.audit_checkpoints, expected=1)
    assert [r.value.decode() for r in published] == [checkpoint.note]


def test_an_event_stored_without_the_key_is_refused_dead_lettered_and_alarmed(
    ctx: ReferralContext, settings: ReferralSettings, broker: Broker
) -> None:
    """Someone with database access appends a legal acknowledgement to a chain (right seq and prev_hash),
    unsigned or signed with a key of their own: the relay publishes neither, and says so."""
    make_referrals(ctx, 2)
    with ctx.read() as session:
        referral = session.exec(select(Referral).where(Referral.last_seq == 1)).first()
    assert referral is not None
    forger = Writer(ctx.codec, SigningKeys.generate(ctx.signing.origin))  # a key of their own
    forged = chain_event(
        forger,
        referral_id=referral.id,
        case_id=referral.case_id,
        last_seq=1,
        last_hash=referral.last_hash,
        event_type="ReferralAcknowledged",
        actor=referral.to_agency,
        occurred_at=dt.datetime.now(dt.UTC),
        fields={"sealed_note": None},
    )
    unsigned = chain_event(
        forger,
        referral_id=referral.id,
        case_id=referral.case_id,
        last_seq=2,
        last_hash=forged.hash,
        event_type="ReferralAccepted",
        actor=referral.to_agency,
        occurred_at=dt.datetime.now(dt.UTC),
        fields={"sealed_note": None},
    )
    with ctx.transaction() as session:
        session.execute(insert(ReferralEvent.__table__), [forged.row, {**unsigned.row, "signature": None}])  # type: ignore[attr-defined]
        session.execute(
            update(Referral).where(col(Referral.id) == referral.id).values(last_seq=3, last_hash=unsigned.hash)
        )

    relay, relay_settings = relay_for(ctx, settings, broker)
    try:
        drain(relay)
    finally:
        relay.close()
    refused = {r.event_id: (r.refused, r.log_index, r.published_at) for r in stored(ctx) if r.refused}
    assert refused == {
        forged.row["event_id"]: ("the event is signed by an unknown key", None, None),
        unsigned.row["event_id"]: ("the event is not signed", None, None),
    }
    assert (
        refused_alarm(ctx)
        == "2 stored event(s) refused by the relay: a missing or bad signature, or bytes changed after the event got "
        "its leaf (see the dead letters)"
    )
    letters = read_topic(relay_settings, relay_settings.topics.dead_letter, expected=2)
    reasons = sorted(dict(r.headers)["dlq.error.message"].decode() for r in letters)
    assert reasons == sorted(f"event {e}: {why}" for e, (why, _, _) in refused.items())
    published = read_topic(relay_settings, relay_settings.topics.referral_events, expected=len(stored(ctx)) - 2)
    assert {dict(r.headers)["event_id"].decode() for r in published}.isdisjoint(refused)


def test_proofs_from_the_api_verify_and_an_outsider_gets_404(
    ctx: ReferralContext, settings: ReferralSettings, broker: Broker, client: TestClient, agencies: Agencies
) -> None:
    lapas = agencies["LAPAS-CIPINANG"]
    created = client.post("/v1/referrals", json=referral_body(), headers=lapas).json()
    assert client.get("/v1/transparency/checkpoint", headers=lapas).status_code == 404  # none signed yet
    make_referrals(ctx, 5)
    relay, _ = relay_for(ctx, settings, broker)
    try:
        drain(relay)
        sign_checkpoint(ctx)
        first = tlog.Checkpoint.parse(
            client.get("/v1/transparency/checkpoint", headers=lapas).text.split("\n\n")[0] + "\n"
        )
        make_referrals(ctx, 4)
        drain(relay)
        sign_checkpoint(ctx)
    finally:
        relay.close()

    answer = client.get("/v1/transparency/checkpoint", headers=lapas)
    assert answer.headers["content-type"].startswith("text/plain")
    keys = client.get("/v1/transparency/public-keys", headers=lapas).json()
    assert keys == {"log": ctx.signing.public.log.text, "events": ctx.signing.public.events.text}
    newest = tlog.Checkpoint.open(answer.text, ctx.signing.public.log.name, ctx.signing.public.log.public)

    [event] = [r for r in stored(ctx) if r.referral_id == created["id"]]
    assert event.log_index is not None
    proof = client.get("/v1/transparency/proofs/inclusion", params={"event_id": event.event_id}, headers=lapas).json()
    assert (proof["log_index"], proof["tree_size"]) == (event.log_index, newest.size)
    leaf = base64.b64decode(proof["leaf_hash"])
    assert leaf == tlog.leaf_hash(event.payload)
    path = [base64.b64decode(h) for h in proof["audit_path"]]
    assert tlog.verify_inclusion(event.log_index, newest.size, leaf, path, newest.root_hash)

    params = {"first": first.size, "second": newest.size}
    consistency = client.get("/v1/transparency/proofs/consistency", params=params, headers=lapas).json()
    hashes = [base64.b64decode(h) for h in consistency["consistency"]]
    assert tlog.verify_consistency(first.size, newest.size, first.root_hash, newest.root_hash, hashes)

    outsider = agencies["RSUD-KRAMATJATI"]
    for event_id in (event.event_id, str(uuid.uuid4())):
        missing = client.get("/v1/transparency/proofs/inclusion", params={"event_id": event_id}, headers=outsider)
        assert missing.status_code == 404
        assert missing.json()["detail"] == "event not found"
    too_big = client.get("/v1/transparency/proofs/consistency", params={"first": 1, "second": 10_000}, headers=lapas)
    assert too_big.status_code == 422
    assert f"<= {newest.size}" in too_big.json()["detail"]
    assert client.get("/v1/transparency/checkpoint").status_code == 401


def stray_note(ctx: ReferralContext, referral_id: str) -> dict[str, Any]:
    """The row of a well-formed note, signed, for someone to write into the store by hand."""
    return chain_event(
        Writer(ctx.codec, ctx.signing),
        referral_id=referral_id,
        case_id=str(uuid.uuid4()),
        last_seq=40,
        last_hash=None,
        event_type="ReferralNoteAdded",
        actor="BAPAS-JAKTIM",
        occurred_at=dt.datetime.now(dt.UTC),
        fields={"sealed_note": b"\x01"},
    ).row


def migrate_to(ctx: ReferralContext, revision: str, *, down: bool) -> None:
    config = alembic_config(MIGRATIONS)
    with ctx.engine.connect() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)
        connection.commit()


def test_a_data_dir_from_before_signatures_is_adopted_once_and_only_its_own_events(
    ctx: ReferralContext, settings: ReferralSettings, broker: Broker
) -> None:
    """Events stored before revision 0004 have no signature and no leaf. The migration marks them as
    legacy; the first start with the key signs them (and only them: a row slipped in with a position the
    migration never saw stays unsigned and is refused), records the key, and clears the mark."""
    events = sum(make_referrals(ctx, 3).values())
    migrate_to(ctx, "0003", down=True)
    migrate_to(ctx, "head", down=False)
    with ctx.transaction() as session:
        assert all(r.signature is None and r.log_index is None for r in session.exec(select(ReferralEvent)).all())
        smuggled = stray_note(ctx, stored(ctx)[0].referral_id)
        session.execute(insert(ReferralEvent.__table__), [{**smuggled, "signature": None, "position": -5}])  # type: ignore[attr-defined]
    adopt_log(ctx)
    adopt_log(ctx)  # again: nothing left to adopt
    relay, _ = relay_for(ctx, settings, broker)
    try:
        drain(relay)
    finally:
        relay.close()
    rows = stored(ctx)
    assert sorted(r.log_index for r in rows if r.log_index is not None) == list(range(events))
    assert all(ctx.signing.public.event_problem(r.payload, r.signature) is None for r in rows if r.position != -5)
    assert [(r.position, r.refused) for r in rows if r.refused] == [(-5, "the event is not signed")]
    with ctx.read() as session:
        state = session.exec(select(LogState)).one()
    assert (state.legacy_position, state.verifier_key) == (0, ctx.signing.public.log.text)

    elsewhere = replace(ctx, signing=SigningKeys.generate(ctx.signing.origin))
    with pytest.raises(SigningKeyError, match="not the one this log is signed with"):
        adopt_log(elsewhere)


def test_an_event_changed_or_indexed_in_the_store_after_sequencing_is_refused_when_published(
    ctx: ReferralContext, settings: ReferralSettings, broker: Broker
) -> None:
    """The relay checks an event again each time it publishes it: bytes changed in the store after it got
    its leaf (here: while a broker log reset makes everything go out again), or a row someone gave a log
    index of their own, never reach the topic."""
    make_referrals(ctx, 3)
    relay, relay_settings = relay_for(ctx, settings, broker)
    try:
        drain(relay)
        [first, second, *_] = stored(ctx)
        with ctx.transaction() as session:
            session.execute(update(ReferralEvent).values(published_at=None))  # as after a broker log reset
            changed = reencode(first.payload, actor_agency="KEMENSOS-HANDAYANI")
            session.execute(
                update(ReferralEvent).where(col(ReferralEvent.position) == first.position).values(payload=changed)
            )
            swapped = {"payload": second.payload, "signature": second.signature}  # a good signature, another leaf
            session.execute(update(ReferralEvent).where(col(ReferralEvent.position) == 3).values(**swapped))
            session.execute(
                insert(ReferralEvent.__table__),  # type: ignore[attr-defined]
                [{**stray_note(ctx, first.referral_id), "log_index": 10**12}],
            )
        drain(relay)
    finally:
        relay.close()
    refused = {r.position: r.refused for r in stored(ctx) if r.refused}
    not_its_leaf = "the event's bytes are not those of its leaf in the log"
    assert refused.pop(first.position) == "the event signature does not match its bytes"
    assert refused.pop(3) == not_its_leaf
    assert list(refused.values()) == [not_its_leaf]  # the row with a log index of its own
    assert relay.backlog() == 0  # refused events are not a backlog: the watchdog must not restart the relay
    letters = read_topic(relay_settings, relay_settings.topics.dead_letter, expected=3)
    assert len(letters) == 3


def test_a_signature_changed_between_sequencing_and_publishing_is_refused(
    ctx: ReferralContext, settings: ReferralSettings, broker: Broker
) -> None:
    """The relay remembers the signatures it verified as it sequenced, to publish those events without a
    second check; a signature column changed in between is not what it verified, and is checked again."""
    events = make_referrals(ctx, 2)
    relay, _ = relay_for(ctx, settings, broker)
    try:
        assert sequence(ctx, 100, relay.checked) == sum(events.values())
        first = stored(ctx)[0]
        assert first.signature is not None
        tampered = first.signature[:-1] + bytes([first.signature[-1] ^ 1])
        with ctx.transaction() as session:
            session.execute(
                update(ReferralEvent).where(col(ReferralEvent.position) == first.position).values(signature=tampered)
            )
        drain(relay)
    finally:
        relay.close()
    refused = {r.position: r.refused for r in stored(ctx) if r.refused}
    assert refused == {first.position: "the event signature does not match its bytes"}
    assert all(r.published_at is not None for r in stored(ctx) if r.position != first.position)


def test_a_checkpoint_waits_until_its_events_are_on_the_topic_again(
    ctx: ReferralContext, settings: ReferralSettings, broker: Broker
) -> None:
    """After a broker log reset everything is republished: a checkpoint must not reach the new log before
    the events it covers (a replay in between would miss them)."""
    events = sum(make_referrals(ctx, 4).values())
    relay, relay_settings = relay_for(ctx, settings, broker)
    outbox = CheckpointOutbox(ctx, relay_settings.topics.audit_checkpoints)
    try:
        drain(relay)
        sign_checkpoint(ctx)
        assert [m.position for m in outbox.unpublished(10)] == [events]
        with ctx.transaction() as session:  # what the relay does when the topic's id changed
            session.execute(update(ReferralEvent).values(published_at=None))
        assert outbox.unpublished(10) == []
        drain(relay)
    finally:
        relay.close()
    assert [m.position for m in outbox.unpublished(10)] == [events]
