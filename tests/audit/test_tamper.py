"""The tamper suite: a real log on the broker, as the relay writes it (each event signed by the event key,
its leaf number in ``log_index``), a checkpoint saved before the tampering, and ``rujukan audit replay
--checkpoint`` naming what was done. Six kinds of tampering, plus a rewritten history signed again and a
forged checkpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from rujukan.audit.log_check import SignedCheckpoint
from rujukan.audit.replay import ReplayOptions, replay
from rujukan.core import tlog
from rujukan.core.codec import event_hash
from rujukan.core.kafka.clients import make_producer
from rujukan.core.kafka.topics import ensure_topics, make_admin
from rujukan.core.settings import CoreSettings
from rujukan.core.signatures import SigningKeys
from rujukan.core.sla import SlaPolicy
from rujukan.referral.eventstore import chain_event
from rujukan.tracker.settings import TrackerSettings
from tests.audit.chains import CODEC, WRITER, Writer, reencode, referral_chain
from tests.audit.conftest import Cli

pytestmark = pytest.mark.integration
KEYS = WRITER.signing
Message = tuple[bytes, int]  # an event's bytes and the log index it is published with


def referral_of(value: bytes) -> str:
    return str(CODEC.decode(value).record["referral_id"])


def event_of(value: bytes) -> str:
    return str(CODEC.decode(value).record["event_id"])


def the_log(referrals: int = 6) -> list[bytes]:
    """Events of several referrals interleaved as a relay publishes them (by storing time)."""
    chains = [referral_chain(4) for _ in range(referrals)]
    return [chain[step] for step in range(5) for chain in chains]


def checkpoint(values: list[bytes], keys: SigningKeys = KEYS) -> str:
    root = tlog.root_of([tlog.leaf_hash(v) for v in values])
    return tlog.Checkpoint(keys.origin, len(values), root).sign(keys.origin, keys.log)


def publish(
    settings: CoreSettings,
    messages: list[Message],
    *,
    partition: int | None = 0,
    signer: SigningKeys = KEYS,
    signed_as: dict[bytes, bytes] | None = None,
) -> None:
    """As the relay would (``partition`` None: keyed by referral), or onto one partition so that the order
    is the test's; each event signed by ``signer``, or a changed one with the signature of the bytes it was
    (``signed_as``: a tamperer has no key)."""
    admin = make_admin(settings)
    ensure_topics(admin, settings)
    admin.close()
    producer = make_producer(settings, name="test-relay")
    for value, index in messages:
        headers = [
            ("event_type", CODEC.decode(value).event_type.encode()),
            ("event_id", event_of(value).encode()),
            ("log_index", str(index).encode()),
            ("signature", signer.sign_event((signed_as or {}).get(value, value))),
        ]
        producer.send(
            settings.topics.referral_events,
            key=referral_of(value).encode(),
            value=value,
            headers=headers,
            partition=partition,
        ).get(10)
    producer.close()


def publish_checkpoints(settings: CoreSettings, notes: list[str]) -> None:
    producer = make_producer(settings, name="test-checkpoints")
    for note in notes:
        producer.send(settings.topics.audit_checkpoints, key=KEYS.origin.encode(), value=note.encode()).get(10)
    producer.close()


def indexed(values: list[bytes]) -> list[Message]:
    return [(value, index) for index, value in enumerate(values)]


@pytest.fixture
def check(cli: Cli, tmp_path: Path) -> Any:
    """Replay with the saved checkpoint and both public keys; (exit code, {kind: [violation, ...]})."""

    def run(saved: str) -> tuple[int, dict[str, list[dict[str, Any]]]]:
        (tmp_path / "saved.txt").write_text(saved)
        report = tmp_path / "report.json"
        keys = KEYS.public
        result = cli(
            "--checkpoint",
            str(tmp_path / "saved.txt"),
            "--public-key",
            keys.log.text,
            "--public-key",
            keys.events.text,
            "--report",
            str(report),
        )
        assert result.exit_code in (0, 2), result.output
        found: dict[str, list[dict[str, Any]]] = {}
        for violation in json.loads(report.read_text())["violations"]:
            found.setdefault(violation["kind"], []).append(violation)
        return result.exit_code, found

    return run


def test_an_untouched_log_holds_against_the_saved_and_the_newest_checkpoint(
    audit_settings: TrackerSettings, check: Any, tmp_path: Path
) -> None:
    log = the_log()
    saved = checkpoint(log[:20])
    publish(audit_settings, indexed(log), partition=None)  # three partitions, as the relay spreads them
    publish(audit_settings, indexed(log[:3]), partition=None)  # the relay published a batch twice
    publish_checkpoints(audit_settings, [saved, checkpoint(log)])
    code, found = check(saved)
    assert (code, found) == (0, {})
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["counts"]["leaves"] == report["counts"]["log_size"] == len(log)
    assert report["counts"]["checkpoints_checked"] == 2  # the saved one and the newest of the topic
    assert report["counts"]["consistency_proofs"] == 1


def test_a_flipped_byte_is_a_bad_signature_and_a_leaf_that_is_not_there(
    audit_settings: TrackerSettings, check: Any
) -> None:
    log = the_log()
    flipped = bytearray(log[13])
    flipped[-3] ^= 0x01  # inside a sealed note: the event still decodes
    tampered = [*log[:13], bytes(flipped), *log[14:]]
    publish(audit_settings, indexed(tampered), signed_as={bytes(flipped): log[13]})
    code, found = check(checkpoint(log))
    assert code == 2
    assert [v["referral_id"] for v in found["bad_event_signature"]] == [referral_of(log[13])]
    assert "log index 13" in found["missing_from_log"][0]["detail"]


def test_a_dropped_event_is_missing_from_the_log(audit_settings: TrackerSettings, check: Any) -> None:
    log = the_log()
    publish(audit_settings, [m for m in indexed(log) if m[1] != 29])  # the last one: no chain can tell
    code, found = check(checkpoint(log))
    assert code == 2
    assert set(found) == {"missing_from_log"}
    assert "1 event(s) missing from the log: log index 29" in found["missing_from_log"][0]["detail"]


def test_two_reordered_events_of_different_referrals_change_the_root(
    audit_settings: TrackerSettings, check: Any
) -> None:
    """Each chain is intact and the log indexes ascend: only the checkpoint can tell."""
    log = the_log()
    reordered = [*log[:7], log[8], log[7], *log[9:]]
    assert referral_of(log[7]) != referral_of(log[8])
    publish(audit_settings, indexed(reordered))
    code, found = check(checkpoint(log))
    assert code == 2
    assert set(found) == {"checkpoint_mismatch"}
    assert "do not make the checkpoint's root" in found["checkpoint_mismatch"][0]["detail"]


def test_a_conflicting_duplicate_is_named(audit_settings: TrackerSettings, check: Any) -> None:
    log = the_log()
    other = reencode(log[10], sealed_note=b"\x01changed")
    publish(audit_settings, [*indexed(log), (other, 10)], signed_as={other: log[10]})
    code, found = check(checkpoint(log))
    assert code == 2
    assert [v["referral_id"] for v in found["conflicting_duplicate"]] == [referral_of(log[10])]
    assert "log index 10 comes back with other bytes" in found["checkpoint_mismatch"][0]["detail"]


def test_a_referral_deleted_from_the_event_store_is_named(audit_settings: TrackerSettings) -> None:
    """The store lost every event of one referral and the relay republished the rest (the holes stay: log
    indexes never change); the referral service's record of its leaves names it."""
    log = the_log()
    victim = referral_of(log[2])
    publish(audit_settings, [m for m in indexed(log) if referral_of(m[0]) != victim])
    publish_checkpoints(audit_settings, [checkpoint(log)])  # the relay republished its checkpoints too
    leaves = {i: (event_of(v), referral_of(v)) for i, v in enumerate(log)}
    options = ReplayOptions(
        keys=KEYS.public,
        checkpoint=SignedCheckpoint(checkpoint(log), "saved"),
        leaf_names=lambda indexes: {i: leaves[i] for i in indexes},
        idle_timeout_s=10,
    )
    report = replay(audit_settings, options, policy=SlaPolicy())
    missing = [v for v in report.violations if v.kind == "missing_from_log"]
    assert [(v.referral_id, v.detail) for v in missing] == [
        (victim, "5 event(s) missing from the log: log index 2, 8, 14, 20, 26")
    ]


@pytest.mark.parametrize("where", ["end", "middle"])
def test_a_legal_event_inserted_into_the_event_store_without_the_key_is_caught(
    audit_settings: TrackerSettings, check: Any, where: str
) -> None:
    """Someone with database access appends a well-formed acknowledgement by the receiver with the right
    seq and prev_hash (at the end of a chain), or inserts it after the creation and re-chains the events
    after it (in the middle). Without the event key it cannot be signed: the relay refuses it (see the
    referral tests); if it is written to the topic anyway, the replay names it, and every event whose
    bytes had to change with it."""
    log = referral_chain(0 if where == "end" else 4)
    created = CODEC.decode(log[0]).record
    forger = Writer(CODEC, SigningKeys.generate(KEYS.origin))  # their own key: an unknown one
    forged = chain_event(
        forger,
        referral_id=str(created["referral_id"]),
        case_id=str(created["case_id"]),
        last_seq=1,
        last_hash=event_hash(log[0]),
        event_type="ReferralAcknowledged",
        actor=str(created["to_agency"]),
        occurred_at=created["occurred_at"],
        fields={"sealed_note": None},
    ).row["payload"]
    rechained: list[bytes] = []
    previous = forged
    for value in log[1:]:
        record = CODEC.decode(value).record
        previous = CODEC.encode({**record, "seq": record["seq"] + 1, "prev_hash": event_hash(previous)})
        rechained.append(previous)
    publish(audit_settings, [(log[0], 0)])
    publish(audit_settings, indexed([log[0], forged, *rechained])[1:], signer=forger.signing)
    code, found = check(checkpoint(log))
    assert code == 2
    named = [v["detail"] for v in found["bad_event_signature"]]
    assert named == [f"the event is signed by an unknown key (event {event_of(v)})" for v in [forged, *rechained]]
    if where == "middle":  # the events the checkpoint has at indexes 1-4 are gone
        assert "4 event(s) missing from the log: log index 1-4" in found["missing_from_log"][0]["detail"]


def test_a_history_rewritten_and_signed_again_is_inconsistent(audit_settings: TrackerSettings, check: Any) -> None:
    """An insider with both keys replaces an event and signs a new checkpoint over the new history: the
    newest checkpoint verifies and matches the log, but it does not extend the checkpoint saved before."""
    log = the_log()
    saved = checkpoint(log[:20])
    rewritten = [*log[:12], reencode(log[12], sealed_note=b"\x01rewritten"), *log[13:]]
    publish(audit_settings, indexed(rewritten))
    publish_checkpoints(audit_settings, [checkpoint(rewritten)])
    code, found = check(saved)
    assert code == 2
    assert "is not an extension of the saved checkpoint (size 20)" in found["inconsistent_history"][0]["detail"]
    assert "saved checkpoint" in found["checkpoint_mismatch"][0]["detail"]


def test_a_checkpoint_not_signed_by_the_log_key_is_refused(audit_settings: TrackerSettings, check: Any) -> None:
    log = the_log()
    publish(audit_settings, indexed(log))
    impostor = SigningKeys(KEYS.origin, Ed25519PrivateKey.generate(), KEYS.events)
    code, found = check(checkpoint(log, impostor))
    assert code == 2
    assert set(found) == {"bad_checkpoint_signature"}
    assert "no signature by" in found["bad_checkpoint_signature"][0]["detail"]


def test_a_bogus_log_index_far_beyond_the_log_neither_hangs_the_replay_nor_hides_a_hole(
    audit_settings: TrackerSettings, check: Any
) -> None:
    log = the_log()
    publish(audit_settings, [m for m in indexed(log) if m[1] != 4] + [(log[4], 10**15)])
    code, found = check(checkpoint(log))
    assert code == 2
    assert "1 event(s) missing from the log: log index 4" in found["missing_from_log"][0]["detail"]
