"""The notifier API (an agency's own subscription and delivery log) and the operator CLI.

Agency credentials are real ones from the referral service's registry, checked by the notifier through
the referral service's own API (``GET /v1/me``), here served in process by Starlette's test client.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import insert
from typer.testing import CliRunner

from rujukan.cli.main import app as cli_app
from rujukan.core.broker import free_port
from rujukan.core.credentials import INBOX_SESSION_COOKIE
from rujukan.core.db import Database, make_engine
from rujukan.core.vocabulary import AgencyKind
from rujukan.notifier.api.app import create_app
from rujukan.notifier.api.auth import ReferralServiceCheck
from rujukan.notifier.models import DeliveryRow
from rujukan.notifier.settings import NotifierSettings
from rujukan.referral.api.app import create_app as create_referral_app
from rujukan.referral.context import ReferralContext
from rujukan.referral.migrate import upgrade as referral_upgrade
from rujukan.referral.registry import AgencyIn, add_agency, issue_credential
from rujukan.referral.settings import ReferralSettings
from rujukan.referral.staff import StaffRole, add_staff, disable_staff
from tests.referral.conftest import MASTER_KEY_B64

AGENCIES = ("LAPAS-CIPINANG", "BAPAS-JAKTIM")


@pytest.fixture
def referral_client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The real referral app on SQLite, and a credential per agency."""

    settings = ReferralSettings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "referral",
        referral_database_url=f"sqlite:///{tmp_path / 'referral.db'}",
        relay_in_process=False,
        master_key=SecretStr(MASTER_KEY_B64),
    )
    engine = make_engine(settings.database_url())
    referral_upgrade(engine)
    ctx = ReferralContext(
        engine=engine, master_key=settings.load_master_key(), signing=settings.load_signing_keys(), max_page_size=100
    )
    for code in AGENCIES:
        add_agency(ctx, agency=AgencyIn(code=code, name=code.title(), kind=AgencyKind.CORRECTIONS, region_code="31.75"))
    secrets = {code: issue_credential(ctx, agency_code=code).secret for code in AGENCIES}
    with TestClient(create_referral_app(settings, context=ctx)) as client:
        yield client, secrets
    engine.dispose()


@pytest.fixture
def api(
    notifier_settings: NotifierSettings, notifier_db: Database, referral_client: tuple[TestClient, dict[str, str]]
) -> Iterator[TestClient]:
    check = ReferralServiceCheck("http://testserver", client=referral_client[0])
    app = create_app(notifier_settings, db=notifier_db, agency_check=check, run_notifier=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def bearer(referral_client: tuple[TestClient, dict[str, str]], code: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {referral_client[1][code]}"}


def test_the_referral_service_says_whose_a_credential_is(referral_client: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = referral_client
    assert client.get("/v1/me", headers=bearer(referral_client, "BAPAS-JAKTIM")).json()["code"] == "BAPAS-JAKTIM"
    assert client.get("/v1/me", headers={"Authorization": "Bearer rjk_nope"}).status_code == 401


def test_an_agency_sets_reads_and_rotates_its_own_subscription(
    api: TestClient, referral_client: tuple[TestClient, dict[str, str]]
) -> None:
    bapas = bearer(referral_client, "BAPAS-JAKTIM")
    assert api.get("/v1/subscription", headers=bapas).status_code == 404
    first = api.put("/v1/subscription", headers=bapas, json={"url": "http://127.0.0.1:9/hook"})
    assert first.status_code == 200
    secret = first.json()["secret"]
    assert secret.startswith("whsec_")
    shown = api.get("/v1/subscription", headers=bapas)
    assert shown.json()["url"] == "http://127.0.0.1:9/hook"
    assert secret not in shown.text  # only a hint of a stored secret is ever shown
    assert [s["hint"] for s in shown.json()["secrets"]] == [secret[:10] + "..."]
    rotated = api.post("/v1/subscription/rotate", headers=bapas, json={"overlap_hours": 2})
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != secret
    secrets = rotated.json()["subscription"]["secrets"]
    assert len(secrets) == 2  # the old one keeps signing for the overlap
    assert secrets[1]["expires_at"] is not None
    lapas = bearer(referral_client, "LAPAS-CIPINANG")
    assert api.get("/v1/subscription", headers=lapas).status_code == 404  # each agency sees its own only


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"url": "https://10.1.2.3/hook"}, "non-public address"),
        ({"url": "ftp://example.org/hook"}, "https"),
        ({"url": "http://user:pw@127.0.0.1/hook"}, "credentials"),
        ({"url": "http://127.0.0.1/hook", "event_types": ["referral.bogus"]}, "unknown event types"),
        ({"url": "http://127.0.0.1/hook", "colour": "red"}, "schema"),
    ],
)
def test_a_bad_subscription_is_refused_with_a_problem(
    api: TestClient, referral_client: tuple[TestClient, dict[str, str]], body: dict[str, object], says: str
) -> None:
    answer = api.put("/v1/subscription", headers=bearer(referral_client, "BAPAS-JAKTIM"), json=body)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert says in answer.json()["detail"]


def test_the_delivery_log_shows_an_agency_its_own_and_redelivers_failures(
    api: TestClient, notifier_db: Database, referral_client: tuple[TestClient, dict[str, str]]
) -> None:
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "subscription_id": f"sub-{owner}",
            "owner": owner,
            "event_id": f"00000000-0000-0000-0000-00000000000{i}",
            "referral_id": "11111111-1111-1111-1111-111111111111",
            "webhook_type": "referral.accepted",
            "payload": "{}",
            "status": "failed",
            "attempts": 3,
            "created_at": now,
            "next_attempt_at": now,
            "last_status_code": 400,
            "last_error": "HTTP 400",
        }
        for i, owner in enumerate(AGENCIES)
    ]
    with notifier_db.transaction() as session:
        session.execute(insert(DeliveryRow), rows)
    bapas = bearer(referral_client, "BAPAS-JAKTIM")
    page = api.get("/v1/deliveries", headers=bapas, params={"status": "failed"}).json()
    assert [d["owner"] for d in page["items"]] == ["BAPAS-JAKTIM"]
    own, lapas_id = page["items"][0]["id"], 1 if page["items"][0]["id"] == 2 else 2
    assert api.post(f"/v1/deliveries/{lapas_id}/redeliver", headers=bapas).status_code == 404  # not yours
    again = api.post(f"/v1/deliveries/{own}/redeliver", headers=bapas)
    assert again.status_code == 202
    assert again.json()["status"] == "pending"
    assert again.json()["attempts"] == 0
    assert api.post(f"/v1/deliveries/{own}/redeliver", headers=bapas).status_code == 409
    beyond = api.post(f"/v1/deliveries/{2**63}/redeliver", headers=bapas)  # once a 500 from the database
    assert beyond.status_code == 422
    assert beyond.headers["content-type"] == "application/problem+json"


def test_no_credential_is_401_and_an_unreachable_registry_is_503(
    notifier_settings: NotifierSettings, notifier_db: Database, api: TestClient
) -> None:
    assert api.get("/v1/subscription").status_code == 401
    assert api.get("/v1/subscription", headers={"Authorization": "Bearer rjk_forged"}).status_code == 401
    check = ReferralServiceCheck(f"http://127.0.0.1:{free_port()}")
    app = create_app(notifier_settings, db=notifier_db, agency_check=check, run_notifier=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/v1/subscription", headers={"Authorization": "Bearer rjk_" + "a" * 43})
    check.close()
    assert answer.status_code == 503
    assert answer.headers["retry-after"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_cli_sets_rotates_lists_subscriptions(
    notifier_settings: NotifierSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUJUKAN_WEBHOOK_ALLOW_HTTP", "true")
    monkeypatch.setenv("RUJUKAN_WEBHOOK_ALLOWED_NETWORKS", '["127.0.0.0/8"]')
    monkeypatch.setenv("RUJUKAN_NOTIFIER_DATABASE_URL", notifier_settings.database_url())
    runner = CliRunner()
    data = ["--data-dir", str(notifier_settings.data_dir)]
    made = runner.invoke(
        cli_app, ["subscription", "set", "--agency", "BAPAS-JAKTIM", "--url", "http://127.0.0.1:9/h", *data]
    )
    assert made.exit_code == 0
    assert made.stdout.strip().startswith("whsec_")
    assert len(made.stdout.strip().splitlines()) == 1  # the secret alone on stdout
    rotated = runner.invoke(cli_app, ["subscription", "rotate", "--agency", "BAPAS-JAKTIM", *data])
    assert rotated.exit_code == 0
    assert rotated.stdout.strip() != made.stdout.strip()
    listed = json.loads(runner.invoke(cli_app, ["subscription", "list", "--json", *data]).stdout)
    assert [(s["owner"], len(s["secrets"])) for s in listed] == [("BAPAS-JAKTIM", 2)]
    assert made.stdout.strip() not in json.dumps(listed)
    refused = runner.invoke(
        cli_app, ["subscription", "set", "--agency", "BAPAS-JAKTIM", "--url", "https://192.168.1.5/h", *data]
    )
    assert refused.exit_code == 1
    assert "non-public address" in refused.stderr
    assert "Traceback" not in refused.output
    neither = runner.invoke(cli_app, ["notifier", "redeliver", *data])
    assert neither.exit_code == 1
    empty = runner.invoke(cli_app, ["notifier", "deliveries", "--json", *data])
    assert json.loads(empty.stdout) == []


def test_a_method_not_allowed_names_every_method_of_the_subscription(api: TestClient) -> None:
    answer = api.request("OPTIONS", "/v1/subscription")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, PUT"  # once only the first route's method
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_person_reads_the_subscription_and_log_through_an_inbox_session_and_changes_nothing(
    api: TestClient, referral_client: tuple[TestClient, dict[str, str]]
) -> None:
    """The inbox's session works here for reads, checked with the referral service on every request (a
    disabled person is refused at once); a change through it is refused: the agency's system makes it."""
    client, _ = referral_client
    ctx = client.app.state.context  # type: ignore[attr-defined]
    person = add_staff(ctx, agency_code="BAPAS-JAKTIM", name="Andi Bapas", role=StaffRole.SUPERVISOR)
    bapas = bearer(referral_client, "BAPAS-JAKTIM")
    assert api.put("/v1/subscription", json={"url": "http://127.0.0.1:9/hook"}, headers=bapas).status_code == 200
    nonce = re.search(r'name="csrf" value="([^"]+)"', client.get("/agency/login").text)
    assert nonce is not None
    signed_in = client.post(
        "/agency/login", data={"secret": person.secret, "csrf": nonce.group(1)}, follow_redirects=False
    )
    assert signed_in.status_code == 303
    csrf = re.search(r'name="csrf-token" content="([0-9a-f]{64})"', client.get("/agency/").text)
    assert csrf is not None
    cookie = {"Cookie": f"{INBOX_SESSION_COOKIE}={client.cookies[INBOX_SESSION_COOKIE]}"}
    without_token = api.get("/v1/subscription", headers=cookie)
    assert without_token.status_code == 403  # the page's CSRF token rides on every request, reads too
    cookie["X-CSRF-Token"] = csrf.group(1)
    read = api.get("/v1/subscription", headers=cookie)
    assert read.status_code == 200, read.text
    assert (read.json()["owner"], read.json()["url"]) == ("BAPAS-JAKTIM", "http://127.0.0.1:9/hook")
    assert api.get("/v1/deliveries", headers=cookie).status_code == 200
    refused = api.put("/v1/subscription", json={"url": "http://127.0.0.1:8/other"}, headers=cookie)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert api.post("/v1/subscription/rotate", headers=cookie).status_code == 403
    assert api.get("/v1/subscription", headers=bapas).json()["url"] == "http://127.0.0.1:9/hook"
    # the person's own secret as a bearer works too, and neither is remembered past a disable
    assert api.get("/v1/subscription", headers={"Authorization": f"Bearer {person.secret}"}).status_code == 200
    disable_staff(ctx, staff_id=person.staff.id)
    assert api.get("/v1/subscription", headers=cookie).status_code == 401
    assert api.get("/v1/subscription", headers={"Authorization": f"Bearer {person.secret}"}).status_code == 401
    forged = api.get("/v1/subscription", headers={**cookie, "Cookie": f"{INBOX_SESSION_COOKIE}=forged"})
    assert forged.status_code == 401
