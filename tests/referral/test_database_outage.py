"""PostgreSQL refusing connections (ALLOW_CONNECTIONS false, open connections terminated): the API
answers 503 with Retry-After, never 500, and serves again once the database is back; a process that
starts during the outage waits for it; the CLI says so in one line."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from rujukan.cli.main import app
from rujukan.core import db
from rujukan.referral.api.app import create_app
from rujukan.referral.context import ReferralContext
from rujukan.referral.settings import ReferralSettings
from tests.databases import database_name, postgres_refusing
from tests.referral.conftest import Agencies, referral_body

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("backend", ["postgresql"], indirect=True)]


def test_api_answers_503_with_retry_after_during_the_outage_and_recovers(
    client: TestClient, agencies: Agencies, settings: ReferralSettings
) -> None:
    lapas = agencies["LAPAS-CIPINANG"]
    assert client.post("/v1/referrals", json=referral_body(), headers=lapas).status_code == 201
    with postgres_refusing([settings.database_url()]):
        for answer in (
            client.post("/v1/referrals", json=referral_body(), headers=lapas),
            client.get("/v1/referrals", params={"direction": "outgoing"}, headers=lapas),
        ):
            assert answer.status_code == 503
            assert answer.headers["Retry-After"].isdigit()
            assert answer.headers["content-type"] == "application/problem+json"
            assert "Traceback" not in answer.text
            assert database_name(settings.database_url()) not in answer.text
    listed = client.get("/v1/referrals", params={"direction": "outgoing"}, headers=lapas)
    assert listed.status_code == 200
    assert len(listed.json()["items"]) == 1  # the refused create left nothing behind


def test_concurrent_writes_while_the_database_goes_away_are_503_never_500(
    ctx: ReferralContext, agencies: Agencies, settings: ReferralSettings
) -> None:
    """Creates and actions in flight when the connections are terminated share the writer's batches: a
    batch whose connection died under one unit fails as a whole with 503 (a rollback that can no longer
    run is not the caller's error), and each create answered 201 is stored."""
    unlimited = settings.model_copy(update={"rate_limit_per_s": 0})
    lapas, bapas = agencies["LAPAS-CIPINANG"], agencies["BAPAS-JAKTIM"]
    statuses: Counter[str] = Counter()
    created: list[str] = []
    with TestClient(create_app(unlimited, context=ctx), raise_server_exceptions=False) as client:
        ends = time.monotonic() + 9.0

        def write() -> None:
            while time.monotonic() < ends:
                answer = client.post("/v1/referrals", json=referral_body(), headers=lapas)
                statuses[f"create {answer.status_code}"] += 1
                if answer.status_code == 201:
                    created.append(answer.json()["id"])
                    seen = client.post(f"/v1/referrals/{created[-1]}/acknowledge", headers=bapas)
                    statuses[f"acknowledge {seen.status_code}"] += 1
                if answer.status_code == 503 and not answer.headers.get("Retry-After", "").isdigit():
                    statuses["503 without Retry-After"] += 1

        writers = [threading.Thread(target=write) for _ in range(8)]
        for writer in writers:
            writer.start()
        for _ in range(3):
            time.sleep(1.0)
            with postgres_refusing([settings.database_url()]):
                time.sleep(1.5)
        for writer in writers:
            writer.join(30)
        listed = [item["id"] for page in _pages(client, lapas) for item in page]
    assert not any(key.endswith(" 500") for key in statuses), statuses
    assert statuses["503 without Retry-After"] == 0, statuses
    assert statuses["create 503"] > 0, statuses  # the outage was met in flight
    assert statuses["create 201"] > 0, statuses
    assert set(created) <= set(listed), "a create answered 201 is not stored"


def _pages(client: TestClient, headers: dict[str, str]) -> list[list[dict[str, object]]]:
    pages: list[list[dict[str, object]]] = []
    params: dict[str, str | int] = {"direction": "outgoing", "page_size": 100}
    for _ in range(200):
        answer = client.get("/v1/referrals", params=params, headers=headers).json()
        pages.append(answer["items"])
        if not answer.get("next_cursor"):
            break
        params["cursor"] = answer["next_cursor"]
    return pages


def test_a_process_starting_during_the_outage_waits_for_the_database(ctx: ReferralContext) -> None:
    refusing = postgres_refusing([ctx.engine.url.render_as_string(hide_password=False)])
    refusing.__enter__()
    reopen = threading.Timer(1.5, refusing.__exit__, args=(None, None, None))
    reopen.start()
    try:
        began = time.monotonic()
        db.wait_until_reachable(ctx.engine, timeout_s=30)
        assert time.monotonic() - began >= 1.0
    finally:
        reopen.join()


def test_waiting_is_bounded(ctx: ReferralContext) -> None:
    with postgres_refusing([ctx.engine.url.render_as_string(hide_password=False)]), pytest.raises(OperationalError):
        db.wait_until_reachable(ctx.engine, timeout_s=0.5)


def test_cli_reports_an_unreachable_database_in_one_line(
    settings: ReferralSettings, ctx: ReferralContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "DATABASE_WAIT_S", 0.5)
    monkeypatch.setenv("RUJUKAN_REFERRAL_DATABASE_URL", settings.database_url())
    with postgres_refusing([settings.database_url()]):
        result = CliRunner().invoke(app, ["agency", "list", "--data-dir", str(tmp_path / "cli")])
    assert result.exit_code == 1
    assert "database is not reachable" in result.output
    assert "Traceback" not in result.output
    assert database_name(settings.database_url()) not in result.output


def test_readiness_names_the_database_during_the_outage_and_recovers(
    client: TestClient, settings: ReferralSettings
) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"] == "ok"
    with postgres_refusing([settings.database_url()]):
        refused = client.get("/readyz")
        assert client.get("/healthz").status_code == 200  # alive all the same
    assert refused.status_code == 503
    assert refused.json()["status"] == "not ready"
    assert refused.json()["checks"]["database"].startswith("not answering")
    assert database_name(settings.database_url()) not in refused.text
    assert client.get("/readyz").status_code == 200
