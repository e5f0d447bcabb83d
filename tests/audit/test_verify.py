"""The chain verifier on real chains: a clean log passes; each kind of tampering is named precisely."""

from __future__ import annotations

import datetime as dt

from rujukan.audit.verify import ChainVerifier, Violation
from rujukan.core.codec import event_hash
from rujukan.referral.eventstore import chain_event
from tests.audit.chains import CODEC, WRITER, reencode, referral_chain
from tests.factories import sample_event


def run(messages: list[bytes]) -> ChainVerifier:
    verifier = ChainVerifier()
    for offset, value in enumerate(messages):
        verifier.feed(partition=0, offset=offset, value=value)
    return verifier


def found(verifier: ChainVerifier) -> list[tuple[str, str | None, int | None, int]]:
    return [(v.kind, v.referral_id, v.seq, v.offset) for v in verifier.violations]


def rid(value: bytes) -> str:
    return str(CODEC.decode(value).record["referral_id"])


def test_a_clean_log_with_duplicates_has_no_violation() -> None:
    a, b = referral_chain(), referral_chain(2)
    log = [a[0], b[0], a[1], b[1], a[2], b[2], a[3], a[4], a[0], a[1]]  # interleaved, then a republish
    verifier = run(log)
    assert verifier.violations == []
    assert (verifier.counts["events"], verifier.counts["duplicates"], verifier.referrals) == (8, 2, 2)


def test_a_flipped_byte_is_named_at_the_changed_event() -> None:
    chain = referral_chain()
    tampered = bytearray(chain[2])
    tampered[-3] ^= 0x01  # inside the sealed note of seq 3: still decodes, different bytes
    log = [chain[0], chain[1], bytes(tampered), chain[3], chain[4]]
    assert found(run(log)) == [("hash_mismatch", rid(chain[0]), 3, 2)]


def test_a_byte_flip_that_breaks_decoding_is_named_where_it_sits() -> None:
    chain = referral_chain()
    broken = chain[1][:-1]  # truncated body
    verifier = run([chain[0], broken, *chain[2:]])
    assert found(verifier)[0] == ("undecodable", None, None, 1)
    assert ("missing_events", rid(chain[0]), 3, 2) in found(verifier)


def test_a_removed_event_is_named_by_its_successor() -> None:
    chain = referral_chain()
    verifier = run([chain[0], chain[1], chain[3], chain[4]])
    [violation] = verifier.violations
    assert (violation.kind, violation.seq, violation.offset) == ("missing_events", 4, 2)
    assert "1 event(s) missing" in violation.detail


def test_a_reordered_pair_is_named() -> None:
    chain = referral_chain()
    assert found(run([chain[0], chain[2], chain[1], chain[3], chain[4]])) == [
        ("missing_events", rid(chain[0]), 3, 1),
        ("out_of_order", rid(chain[0]), 2, 2),
    ]


def test_an_event_republished_with_changed_content_is_named() -> None:
    chain = referral_chain()
    changed = reencode(chain[4], outcome="subject_withdrew")
    verifier = run([*chain, changed])
    assert verifier.violations == [
        Violation(
            "conflicting_duplicate", 0, 5, "an event id seen before comes back with other content", rid(chain[0]), 5
        )
    ]


def test_an_illegal_transition_is_named_even_with_a_valid_chain() -> None:
    chain = referral_chain(1)
    # Rebuild seq 2 as an acceptance by the requesting agency, with a correct prev_hash.
    first = CODEC.decode(chain[0]).record
    forged = chain_event(
        WRITER,
        referral_id=str(first["referral_id"]),
        case_id=str(first["case_id"]),
        last_seq=1,
        last_hash=event_hash(chain[0]),
        event_type="ReferralAccepted",
        actor="POLRES-JAKTIM-PPA",
        occurred_at=dt.datetime.now(dt.UTC),
        fields={"sealed_note": None},
    )
    assert found(run([chain[0], forged.row["payload"]])) == [("illegal", rid(chain[0]), 2, 1)]


def test_garbage_is_undecodable() -> None:
    assert found(run([b"\x00garbage"])) == [("undecodable", None, None, 0)]


def test_reading_from_the_middle_of_the_log_checks_chains_from_where_they_are_entered() -> None:
    chain = referral_chain()
    verifier = ChainVerifier(starts_midway=True)
    for offset, value in enumerate([chain[2], chain[3], chain[4]]):
        verifier.feed(partition=0, offset=offset, value=value)
    assert verifier.violations == []
    assert verifier.counts["chains_entered_midway"] == 1
    tampered = ChainVerifier(starts_midway=True)
    for offset, value in enumerate([chain[2], chain[4]]):
        tampered.feed(partition=0, offset=offset, value=value)
    assert found(tampered) == [("missing_events", rid(chain[0]), 5, 1)]


def test_events_of_other_topics_are_named_not_crashed_on() -> None:
    breach = CODEC.encode(sample_event("SlaBreached"))
    disclosed = CODEC.encode(
        {
            "event_id": "00000000-0000-0000-0000-000000000001",
            "event_type": "SealedDataDisclosed",
            "occurred_at": dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
            "auditor_credential_id": "00000000-0000-0000-0000-000000000002",
            "auditor_name": "Inspektorat",
            "purpose": "ST-1",
            "topic": "rujukan.referral.events.v1",
            "window_from": None,
            "window_to": None,
            "export_file": "x.jsonl",
        }
    )
    assert [v.kind for v in run([breach, disclosed]).violations] == ["foreign_event", "foreign_event"]
