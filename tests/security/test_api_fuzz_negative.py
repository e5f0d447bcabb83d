"""Negative fuzzing of the three APIs: a separate run that does not block the build.

Marked ``fuzz_negative``, which pyproject's addopts deselect; run it with ``pytest -m fuzz_negative
tests/security/test_api_fuzz_negative.py`` (``.ci/run`` does, after the main tests, under a timeout, and
reports a failure without failing the build).

Schemathesis generates requests that break each operation's schema (``GenerationMode.NEGATIVE``: wrong
types, numbers out of range, missing or unknown fields, values outside an enum or a pattern), sent with
real credentials, a different one per request, to the referral service, the tracker and the notifier.
The credential itself is left alone (``generation.with-security-parameters`` off): a broken one only
ever meets the 401 of the authorisation matrices, and would spend the examples on it.
Whatever the input: no answer is a 5xx, and every 4xx is RFC 9457 problem+json (that content type, a
body whose ``status`` is the answer's, and a ``title``), or on the FHIR routes an OperationOutcome. A 2xx
is no failure: negative data can be harmless (an unknown query parameter is ignored by design).

The seed is random and printed first; ``RUJUKAN_FUZZ_SEED=<seed>`` replays a run exactly (the example
database is off), ``RUJUKAN_FUZZ_EXAMPLES`` sets the examples per operation.
"""

from __future__ import annotations

import os
import secrets
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

pytestmark = [pytest.mark.integration, pytest.mark.fuzz_negative]
SEED = int(os.environ.get("RUJUKAN_FUZZ_SEED") or secrets.randbits(32))
EXAMPLES = int(os.environ.get("RUJUKAN_FUZZ_EXAMPLES") or 500)
NEGATIVE = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None, print_blob=True
)


@pytest.fixture(autouse=True)
def announce_seed(capsys: pytest.CaptureFixture[str]) -> None:
    """The seed on the terminal before anything is sent, whatever the output capture."""
    replay = f"RUJUKAN_FUZZ_SEED={SEED} replays it"
    with capsys.disabled():
        print(f"\nnegative fuzzing: seed {SEED}, {EXAMPLES} examples an operation ({replay})")


def check(case: Any, response: Any) -> None:
    where = f"{case.method} {case.formatted_path} (seed {SEED})"
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:500]}"
    if 400 <= response.status_code < 500:
        headers = {name.lower(): values for name, values in response.headers.items()}
        body = response.json()
        if case.formatted_path.startswith("/fhir/"):  # FHIR's errors are OperationOutcomes (with the same status)
            assert headers.get("content-type") == ["application/fhir+json"], f"{where}: {headers.get('content-type')}"
            assert body["resourceType"] == "OperationOutcome", where
            assert body["issue"][0]["diagnostics"], where
            return
        assert headers.get("content-type") == ["application/problem+json"], f"{where}: {headers.get('content-type')}"
        assert body["status"] == response.status_code, where
        assert body["title"], where


def fuzz_negatively(schema: Any) -> Counter[int]:
    """Every operation that has something to break, EXAMPLES negative requests each; answers by status.
    An operation with nothing to break (no parameter, no body) has no negative example (Unsatisfiable)."""
    schema.config.generation.update(with_security_parameters=False)  # the body and parameters, not the credential
    statuses: Counter[int] = Counter()
    unbreakable = []
    for result in schema.get_all_operations():
        operation = result.ok()
        strategy = operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)

        @seed(SEED)
        @NEGATIVE
        @given(case=strategy)
        def call(case: Any) -> None:
            response = case.call()
            statuses[response.status_code] += 1
            check(case, response)

        try:
            call()
        except Unsatisfiable:
            unbreakable.append(operation.label)
    print(f"negative fuzzing (seed {SEED}): answers by status {dict(sorted(statuses.items()))}; ", end="")
    print(f"nothing to break in {unbreakable}")
    return statuses


def test_referral_api_refuses_what_breaks_its_schema(referral_schema: Any) -> None:
    assert sum(fuzz_negatively(referral_schema).values()) > 0


def test_tracker_api_refuses_what_breaks_its_schema(tracker_schema: Any) -> None:
    assert sum(fuzz_negatively(tracker_schema).values()) > 0


def test_notifier_api_refuses_what_breaks_its_schema(notifier_schema: Any) -> None:
    assert sum(fuzz_negatively(notifier_schema).values()) > 0
