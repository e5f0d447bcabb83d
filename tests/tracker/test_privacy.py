"""What the tracker gives away, and to whom: region-scoped coordinators see their region only, villages
are never shown, and the dashboard's cookie is a session that signing out ends, never the credential."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rujukan.core.db import Database
from rujukan.tracker.access import TrackerRole, issue_tracker_credential
from rujukan.tracker.api.app import create_app
from rujukan.tracker.api.auth import COOKIE
from rujukan.tracker.errors import InvalidQuery
from rujukan.tracker.settings import TrackerSettings
from tests.tracker.journeys import Journey
from tests.tracker.test_api import feed

pytestmark = pytest.mark.integration
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def client(tracker_db: Database, tracker_settings: TrackerSettings) -> Iterator[TestClient]:
    settings = tracker_settings.model_copy(update={"consumer_in_process": False})
    with TestClient(create_app(settings, db=tracker_db), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def regions(tracker_db: Database, tracker_settings: TrackerSettings) -> dict[str, Journey]:
    jakarta = Journey(region="31.75.01.1001", start=NOW - dt.timedelta(minutes=5))
    jakarta_child = Journey(
        case_id=jakarta.case_id,
        parent=jakarta.referral_id,
        region="31.75.01.1001",
        from_agency="BAPAS-JAKTIM",
        to_agency="KEMENSOS-HANDAYANI",
        start=NOW - dt.timedelta(minutes=4),
    )
    bekasi = Journey(region="32.75.02", start=NOW - dt.timedelta(minutes=3))
    journeys = {"jakarta": jakarta, "jakarta_child": jakarta_child, "bekasi": bekasi}
    feed(tracker_db, tracker_settings, list(journeys.values()))
    return journeys


def bearer(db: Database, role: TrackerRole = TrackerRole.COORDINATOR, region: str | None = None) -> dict[str, str]:
    _, secret = issue_tracker_credential(db, role=role, name="Koordinator", region_scope=region)
    return {"Authorization": f"Bearer {secret}"}


def test_villages_are_never_shown(client: TestClient, tracker_db: Database, regions: dict[str, Journey]) -> None:
    headers = bearer(tracker_db)
    detail = client.get(f"/v1/handoffs/{regions['jakarta'].referral_id}", headers=headers).json()
    assert detail["region_code"] == "31.75.01"
    assert "1001" not in client.get("/v1/handoffs", params={"format": "csv"}, headers=headers).text


def test_a_region_scoped_coordinator_sees_that_region_only(
    client: TestClient, tracker_db: Database, regions: dict[str, Journey]
) -> None:
    jakarta = bearer(tracker_db, region="31.75")
    listed = client.get("/v1/handoffs", headers=jakarta).json()
    assert {item["referral_id"] for item in listed["items"]} == {
        str(regions["jakarta"].referral_id),
        str(regions["jakarta_child"].referral_id),
    }
    assert client.get("/v1/handoffs", params={"region": "32"}, headers=jakarta).json()["total"] == 0
    elsewhere = client.get(f"/v1/handoffs/{regions['bekasi'].referral_id}", headers=jakarta)
    missing = client.get(f"/v1/handoffs/{regions['jakarta'].case_id}", headers=jakarta)  # no handoff has that id
    assert elsewhere.status_code == missing.status_code == 404
    assert elsewhere.json()["detail"] == missing.json()["detail"]
    assert client.get(f"/v1/cases/{regions['bekasi'].case_id}", headers=jakarta).status_code == 404
    assert len(client.get(f"/v1/cases/{regions['jakarta'].case_id}", headers=jakarta).json()) == 2
    funnel = client.get("/v1/stats/funnel", headers=jakarta).json()
    assert {(r["from_agency"], r["to_agency"]) for r in funnel} == {
        ("LAPAS-CIPINANG", "BAPAS-JAKTIM"),
        ("BAPAS-JAKTIM", "KEMENSOS-HANDAYANI"),
    }
    everywhere = bearer(tracker_db)
    assert client.get("/v1/handoffs", headers=everywhere).json()["total"] == 3


def test_region_scopes_are_for_coordinators_and_must_be_regions(tracker_db: Database) -> None:
    with pytest.raises(InvalidQuery):
        issue_tracker_credential(tracker_db, role=TrackerRole.AUDITOR, name="BPK", region_scope="31.75")
    with pytest.raises(InvalidQuery):
        issue_tracker_credential(tracker_db, role=TrackerRole.COORDINATOR, name="X", region_scope="Jakarta")


def test_the_dashboard_cookie_is_a_session_that_signing_out_ends(
    client: TestClient, tracker_db: Database, regions: dict[str, Any]
) -> None:
    _, secret = issue_tracker_credential(tracker_db, role=TrackerRole.COORDINATOR, name="Koordinator DKI")
    signed_in = client.post("/login", data={"credential": secret}, follow_redirects=False)
    assert signed_in.status_code == 303
    token = signed_in.cookies[COOKIE]
    assert token != secret
    assert secret not in signed_in.headers["set-cookie"]
    assert "HttpOnly" in signed_in.headers["set-cookie"]
    assert "Secure" not in signed_in.headers["set-cookie"]  # plain http here
    client.cookies.set(COOKIE, token)
    assert client.get("/v1/handoffs").status_code == 200
    assert client.get("/", follow_redirects=False).status_code == 200
    client.post("/logout", follow_redirects=False)
    client.cookies.set(COOKIE, token)  # the old cookie, replayed
    assert client.get("/v1/handoffs").status_code == 401
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    behind_tls = client.post(
        "/login", data={"credential": secret}, headers={"X-Forwarded-Proto": "https"}, follow_redirects=False
    )
    assert "Secure" in behind_tls.headers["set-cookie"]
