"""Hostile bytes on the event topic: the decoder raises only the codec's typed errors, with bounded
memory, and the consumers dead-letter such records and move on (never a crash, never a stuck partition).

(tests/unit/test_codec_corrupt.py runs hypothesis over the codec alone; this adds coverage-guided fuzzing
with atheris, inputs that claim enormous lengths, and the consumer path end to end.)
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rujukan.core.codec import HEADER_SIZE, EventCodec
from rujukan.core.db import Database
from rujukan.core.errors import CodecError
from rujukan.tracker.consumer import TrackerConsumer
from rujukan.tracker.settings import TrackerSettings
from tests.factories import EVENT_TYPES, sample_event
from tests.security.conftest import Record

CODEC = EventCodec()
ROOT = Path(__file__).resolve().parents[2]
OFFSETS = itertools.count()  # one growing partition across the examples, as a real log


def zigzag_varint(value: int) -> bytes:
    """Avro's long encoding."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


@pytest.mark.parametrize("claimed", [2**31, 2**40, 2**62])
def test_a_body_claiming_an_enormous_length_fails_fast_with_little_memory(claimed: int) -> None:
    created = CODEC.encode(sample_event("ReferralCreated"))
    # ReferralCreated's first body field is event_id, a 36-character string: claim it is enormous.
    hostile = created[:HEADER_SIZE] + zigzag_varint(claimed) + b"x" * 64
    tracemalloc.start()
    try:
        with pytest.raises(CodecError):
            CODEC.decode(hostile)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"decoding a 100-byte message peaked at {peak} bytes"


def test_negative_lengths_are_refused() -> None:
    created = CODEC.encode(sample_event("ReferralCreated"))
    with pytest.raises(CodecError):
        CODEC.decode(created[:HEADER_SIZE] + zigzag_varint(-5) + created[HEADER_SIZE + 1 :])


def test_atheris_finds_no_crash_in_the_decoder(tmp_path: Path) -> None:
    """Coverage-guided: 30,000 runs from the valid events as corpus, RSS limited to 512 MB."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in EVENT_TYPES:
        (corpus / name).write_bytes(CODEC.encode(sample_event(name)))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.security.atheris_codec",
            "-runs=30000",
            "-rss_limit_mb=512",
            "-max_len=8192",
            "-seed=1",
            str(corpus),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done 30000 runs" in done.stderr


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    values=st.lists(
        st.one_of(
            st.binary(max_size=300),
            st.sampled_from(EVENT_TYPES).map(lambda name: CODEC.encode(sample_event(name))[:-3]),  # truncated
            st.none(),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_the_consumer_dead_letters_hostile_records_and_moves_on(
    tracker_db: Database, tracker_settings: TrackerSettings, values: list[bytes | None]
) -> None:
    consumer = TrackerConsumer(tracker_db, tracker_settings)
    records = [Record("t", 0, next(OFFSETS), b"k", value) for value in values]
    try:
        result = consumer.apply(records, topic_id="fuzz")
    finally:
        consumer.close()
    assert result.applied == 0
    assert result.dead_lettered + result.duplicates == len(records)
