"""Codec rate: encode and decode events/s on one core, next to bare fastavro on the same record.

The record is a typical ReferralCreated (sealed subject and reason of realistic size). Each measurement
runs for a bounded time and a bounded count, whichever ends first, and keeps the best of three rounds.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Callable
from io import BytesIO
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from rujukan.core.codec import HEADER_SIZE, EventCodec

ROUNDS = 3
MAX_SECONDS = 1.0
MAX_COUNT = 500_000


def typical_referral_created() -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "event_id": uuid.uuid4(),
        "event_type": "ReferralCreated",
        "occurred_at": now,
        "referral_id": uuid.uuid4(),
        "case_id": uuid.uuid4(),
        "seq": 1,
        "prev_hash": None,
        "actor_agency": "POLRES-JAKTIM-PPA",
        "from_agency": "POLRES-JAKTIM-PPA",
        "to_agency": "UPTD-PPA-DKI",
        "service_type": "safe_shelter",
        "urgency": "emergency",
        "parent_referral_id": None,
        "subject_id": "sub_" + uuid.uuid4().hex[:16],
        "subject_category": "violence_victim_woman",
        "subject_sex": "female",
        "subject_age_band": "age_25_44",
        "subject_region_code": "31.75",
        "legal_basis": "vital_interest",
        "consent": None,
        # AES-GCM envelopes: version + nonce + ciphertext + tag of a ~180-byte identity and ~300-byte reason.
        "sealed_subject": os.urandom(1 + 12 + 180 + 16),
        "sealed_reason": os.urandom(1 + 12 + 300 + 16),
    }


def rate(operation: Callable[[], object]) -> float:
    """Best operations/s over a few bounded rounds."""
    best = 0.0
    for _ in range(ROUNDS):
        count, start = 0, time.perf_counter()
        deadline = start + MAX_SECONDS
        while count < MAX_COUNT:
            for _ in range(1000):
                operation()
            count += 1000
            if time.perf_counter() >= deadline:
                break
        best = max(best, count / (time.perf_counter() - start))
    return best


def measure() -> dict[str, float]:
    codec = EventCodec()
    record = typical_referral_created()
    schema = codec.catalogue.latest("ReferralCreated")
    assert schema is not None
    encoded = codec.encode(record)
    body = encoded[HEADER_SIZE:]

    def bare_encode() -> bytes:
        buffer = BytesIO()
        schemaless_writer(buffer, schema.parsed, record)
        return buffer.getvalue()

    def bare_decode() -> object:
        return schemaless_reader(BytesIO(body), schema.parsed, None)

    results = {
        "encode_per_s": rate(lambda: codec.encode(record)),
        "bare_fastavro_encode_per_s": rate(bare_encode),
        "decode_per_s": rate(lambda: codec.decode(encoded)),
        "bare_fastavro_decode_per_s": rate(bare_decode),
        "event_bytes": float(len(encoded)),
    }
    results["encode_ratio"] = results["encode_per_s"] / results["bare_fastavro_encode_per_s"]
    results["decode_ratio"] = results["decode_per_s"] / results["bare_fastavro_decode_per_s"]
    return results


def report(results: dict[str, float]) -> str:
    lines = [f"codec, ReferralCreated of {results['event_bytes']:.0f} bytes, one core:"]
    for op in ("encode", "decode"):
        ours, bare = results[f"{op}_per_s"], results[f"bare_fastavro_{op}_per_s"]
        lines.append(f"  {op} {ours:>10,.0f} /s   bare fastavro {bare:>10,.0f} /s   ratio {results[op + '_ratio']:.0%}")
    return "\n".join(lines)
