"""Schemathesis against the OpenAPI of the referral service, the tracker and the notifier, in process, on
PostgreSQL, with real credentials of several agencies and both tracker roles (the notifier checking the
agencies' through the real referral app): generated and mutated requests must never get a server error,
and every answer must match the schema (status, content type, headers, body).

One check is left out, with reason: ``positive_data_acceptance`` expects every schema-valid body to be
accepted, but some rules are the domain's, not the schema's (an agency cannot refer to itself, the
receiver must offer the service, a cursor must be one the API issued): those answer 422 by design.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.security.conftest import REQUESTER, NotifierApi, ReferralApi

pytestmark = pytest.mark.integration
EXAMPLES = 100
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def fuzz(schema: Any) -> int:
    """Every operation, EXAMPLES generated requests each (schemathesis' pytest plugin does not run on
    pytest 9, so the operations are walked here); the number of operations fuzzed."""
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        strategy = operation.as_strategy()

        @given(case=strategy)
        @FUZZ
        def call(case: Any) -> None:
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        call()
    return len(operations)


def test_referral_api_fuzzed(referral_schema: Any) -> None:
    # me, list, create, get, act, 6 subject routes, 4 transparency routes, 5 directory routes (two writes of
    # one's own entry, list, match, HSDS), healthz, readyz, metrics
    assert fuzz(referral_schema) == 39  # 28 of /v1 and the rest, 11 of FHIR


def test_tracker_api_fuzzed(tracker_schema: Any) -> None:
    # handoffs, one handoff, case, pathway, funnel, indicator 354, capacity, /healthz, /readyz, /metrics
    assert fuzz(tracker_schema) == 12  # with /v1/stats/staff


def test_notifier_api_fuzzed(notifier_schema: Any) -> None:
    operations = fuzz(notifier_schema)
    assert operations == 8  # subscription get/put/rotate, deliveries, redeliver, healthz, readyz, metrics


def test_the_delivery_log_refuses_a_cursor_beyond_bigint(notifier_api: NotifierApi, referral_api: ReferralApi) -> None:
    """Found by the fuzzer: above 2**63-1 the cursor reached PostgreSQL and answered 500."""
    answer = notifier_api.client.get("/v1/deliveries", params={"before": 2**63}, headers=referral_api.auth(REQUESTER))
    assert answer.status_code == 422, answer.status_code
    assert answer.headers["content-type"] == "application/problem+json"


def test_referral_api_stateful(referral_schema: Any) -> None:
    """Sequences linked through the answers (create, then read and act on what was created)."""
    machine = referral_schema.as_state_machine()

    class Stateful(machine):  # type: ignore[misc, valid-type]
        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, excluded_checks=[positive_data_acceptance], transport_kwargs=kwargs)

    Stateful.run(
        settings=settings(
            max_examples=25, stateful_step_count=6, deadline=None, suppress_health_check=list(HealthCheck)
        )
    )
