"""An unexpected error answers a bare 500 and leaves a traceback in the log that names where it happened
but carries no value that could be personal data."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rujukan.core.http import install_problem_handlers, map_by_kind
from rujukan.referral.fhir.outcome import FhirOutcomes

NIK = "3175012345678901"


def broken() -> None:
    raise ValueError(f"cannot parse subject {NIK}")


def test_a_500_is_logged_with_a_traceback_free_of_personal_data(caplog: pytest.LogCaptureFixture) -> None:
    app = FastAPI()
    install_problem_handlers(app, map_by_kind([]))

    @app.get("/boom")
    def boom() -> None:
        broken()

    with caplog.at_level(logging.ERROR), TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/boom")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert NIK not in answer.text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "unexpected ValueError on GET /boom" in logged
    assert f"{__file__}:" in logged
    assert "in broken" in logged
    assert NIK not in logged


def test_a_500_on_a_fhir_path_is_an_operation_outcome_logged_the_same_way(caplog: pytest.LogCaptureFixture) -> None:
    """The catch-all handler answers from outside every middleware; on FHIR paths the FHIR middleware
    answers instead, as an OperationOutcome, with the same log line."""
    app = FastAPI()
    install_problem_handlers(app, map_by_kind([]))

    @app.get("/fhir/r4/Boom")
    def boom() -> None:
        broken()

    app.add_middleware(FhirOutcomes)
    with caplog.at_level(logging.ERROR), TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/fhir/r4/Boom")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/fhir+json"
    assert answer.json()["issue"][0]["code"] == "exception"
    assert NIK not in answer.text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "unexpected ValueError on GET /fhir/r4/Boom" in logged
    assert NIK not in logged
