"""Schemathesis against the OpenAPI of the referral service and the tracker, in process, on PostgreSQL,
with real credentials of several agencies and both tracker roles: generated and mutated requests must
never get a server error, and every answer must match the schema (status, content type, headers, body).

One check is left out, with reason: ``positive_data_acceptance`` expects every schema-valid body to be
accepted, but some rules are the domain's, not the schema's (an agency cannot refer to itself, the
receiver must offer the service, a cursor must be one the API issued): those answer 422 by design.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.security.conftest import ReferralApi, TrackerApi

pytestmark = pytest.mark.integration
EXAMPLES = 100
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.fixture
def referral_schema(referral_api: ReferralApi) -> Any:
    schema = schemathesis.openapi.from_asgi("/openapi.json", referral_api.client.app)
    callers = itertools.cycle(sorted(referral_api.secrets.values()))
    schema.auth()(_cycling(callers))
    return schema


@pytest.fixture
def tracker_schema(tracker_api: TrackerApi) -> Any:
    schema = schemathesis.openapi.from_asgi("/openapi.json", tracker_api.client.app)
    schema.auth()(_cycling(itertools.cycle(sorted(tracker_api.secrets.values()))))
    return schema.exclude(path="/v1/stream")  # an endless event stream: covered by the tracker's own tests


def _cycling(callers: Any) -> type:
    class Cycling:
        """A different caller for each generated request (agencies, or coordinator and auditor)."""

        def get(self, case: Any, context: Any) -> str:
            return str(next(callers))

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return Cycling


def fuzz(schema: Any) -> int:
    """Every operation, EXAMPLES generated requests each (schemathesis' pytest plugin does not run on
    pytest 9, so the operations are walked here); the number of operations fuzzed."""
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:

        @given(case=operation.as_strategy())
        @FUZZ
        def call(case: Any) -> None:
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        call()
    return len(operations)


def test_referral_api_fuzzed(referral_schema: Any) -> None:
    assert fuzz(referral_schema) == 14  # me, list, create, get, act, 6 subject routes, healthz, readyz, metrics


def test_tracker_api_fuzzed(tracker_schema: Any) -> None:
    assert fuzz(tracker_schema) == 8  # handoffs, one handoff, case, funnel, indicator 354, /healthz, /readyz, /metrics


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
