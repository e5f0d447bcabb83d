"""The coordinator API over HTTP, on SQLite and PostgreSQL, fed through the consumer's apply()."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rujukan.core.codec import EventCodec
from rujukan.core.db import Database
from rujukan.tracker.access import TrackerRole, issue_tracker_credential, revoke_tracker_credential
from rujukan.tracker.api.app import create_app
from rujukan.tracker.breaches import sweep
from rujukan.tracker.consumer import TrackerConsumer
from rujukan.tracker.settings import TrackerSettings
from tests.tracker.journeys import Journey

pytestmark = pytest.mark.integration
NOW = dt.datetime.now(dt.UTC)


class Record:
    def __init__(self, offset: int, value: bytes) -> None:
        self.topic, self.partition, self.offset, self.value, self.key = "t", 0, offset, value, b"k"


def feed(db: Database, settings: TrackerSettings, journeys: list[Journey]) -> None:
    codec = EventCodec()
    events = [e for j in journeys for e in j.events]
    TrackerConsumer(db, settings).apply([Record(i, codec.encode(e)) for i, e in enumerate(events)], topic_id="t")


@pytest.fixture
def app_client(tracker_db: Database, tracker_settings: TrackerSettings) -> Iterator[tuple[TestClient, Any]]:
    settings = tracker_settings.model_copy(update={"consumer_in_process": False})
    app = create_app(settings, db=tracker_db)
    with TestClient(app, raise_server_exceptions=False) as client:
        _, secret = issue_tracker_credential(tracker_db, role=TrackerRole.COORDINATOR, name="Koordinator DKI")
        client.headers["Authorization"] = f"Bearer {secret}"
        yield client, app


@pytest.fixture
def sample(tracker_db: Database, tracker_settings: TrackerSettings) -> dict[str, Journey]:
    fresh = NOW - dt.timedelta(minutes=5)
    journeys = {
        "overdue": Journey(urgency="emergency", start=NOW - dt.timedelta(hours=3), region="31.75"),
        "fresh": Journey(urgency="routine", start=fresh, region="31.71", to_agency="RSUD-KRAMATJATI"),
        "done": Journey(start=fresh, category="violence_victim_woman", region="32.73")
        .then("ReferralAccepted", hours=0.01)
        .then("ReferralCompleted", hours=0.02, outcome="goals_met"),
    }
    journeys["child"] = Journey(
        start=fresh + dt.timedelta(minutes=1),  # forwarded after the parent was created
        case_id=journeys["done"].case_id,
        from_agency="BAPAS-JAKTIM",
        to_agency="KEMENSOS-HANDAYANI",
        parent=journeys["done"].referral_id,
    )
    feed(tracker_db, tracker_settings, list(journeys.values()))
    return journeys


def test_credentials_are_required_and_revocable(app_client: tuple[TestClient, Any], tracker_db: Database) -> None:
    client, _ = app_client
    assert client.get("/healthz", headers={"Authorization": ""}).status_code == 200
    anonymous = client.get("/v1/handoffs", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    credential_id, secret = issue_tracker_credential(tracker_db, role=TrackerRole.AUDITOR, name="BPK")
    assert client.get("/v1/handoffs", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    revoke_tracker_credential(tracker_db, credential_id=credential_id)
    assert client.get("/v1/handoffs", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_handoffs_come_overdue_first_and_filter(app_client: tuple[TestClient, Any], sample: dict[str, Journey]) -> None:
    client, _ = app_client
    page = client.get("/v1/handoffs").json()
    assert page["total"] == 4
    assert page["items"][0]["referral_id"] == str(sample["overdue"].referral_id)
    assert page["items"][0]["overdue"] is True
    assert page["items"][0]["next_due_at"] == page["items"][0]["ack_due_at"]  # the dashboard shows it: late since
    fresh = next(i for i in page["items"] if i["referral_id"] == str(sample["fresh"].referral_id))
    assert fresh["next_due_at"] == fresh["ack_due_at"]
    done = next(i for i in page["items"] if i["referral_id"] == str(sample["done"].referral_id))
    assert done["next_due_at"] is None  # accepted: no clock runs any more
    assert [i["overdue"] for i in page["items"][1:]] == [False, False, False]
    only = client.get("/v1/handoffs", params={"overdue": "true"}).json()["items"]
    assert [i["referral_id"] for i in only] == [str(sample["overdue"].referral_id)]
    assert client.get("/v1/handoffs", params={"to_agency": "RSUD-KRAMATJATI"}).json()["total"] == 1
    assert client.get("/v1/handoffs", params={"status": "completed"}).json()["total"] == 1
    assert client.get("/v1/handoffs", params={"region": "31"}).json()["total"] == 3  # 31.75 x2, 31.71
    assert client.get("/v1/handoffs", params={"region": "31.71"}).json()["total"] == 1
    assert client.get("/v1/handoffs", params={"agency": "BAPAS-JAKTIM"}).json()["total"] == 3  # not the RSUD one
    assert client.get("/v1/handoffs", params={"region": "nope"}).status_code == 422


def test_csv_download(app_client: tuple[TestClient, Any], sample: dict[str, Journey]) -> None:
    client, _ = app_client
    response = client.get("/v1/handoffs", params={"format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.strip().splitlines()
    assert lines[0].startswith("referral_id,case_id,")
    assert len(lines) == 5


def test_handoff_detail_and_case_timeline(
    app_client: tuple[TestClient, Any],
    sample: dict[str, Journey],
    tracker_db: Database,
    tracker_settings: TrackerSettings,
) -> None:
    client, _ = app_client
    detail = client.get(f"/v1/handoffs/{sample['done'].referral_id}").json()
    assert [h["event_type"] for h in detail["history"]] == ["ReferralCreated", "ReferralAccepted", "ReferralCompleted"]
    assert detail["status"] == "completed"
    timeline = client.get(f"/v1/cases/{sample['done'].case_id}").json()
    assert [h["referral_id"] for h in timeline] == [str(sample["done"].referral_id), str(sample["child"].referral_id)]
    assert client.get("/v1/handoffs/nope").status_code == 404
    assert client.get("/v1/cases/nope").status_code == 404
    overdue = client.get(f"/v1/handoffs/{sample['overdue'].referral_id}").json()
    assert overdue["overdue"] is True
    assert overdue["breaches"] == []  # not yet swept
    sweep(tracker_db, tracker_settings.sla_policy(), now=dt.datetime.now(dt.UTC))
    overdue = client.get(f"/v1/handoffs/{sample['overdue'].referral_id}").json()
    assert {b["clock"] for b in overdue["breaches"]} == {"acknowledge"}


def test_funnel_and_indicator(app_client: tuple[TestClient, Any], sample: dict[str, Journey]) -> None:
    client, _ = app_client
    rows = {(r["from_agency"], r["to_agency"]): r for r in client.get("/v1/stats/funnel").json()}
    pair = rows[("LAPAS-CIPINANG", "BAPAS-JAKTIM")]  # two referrals: every count and duration is withheld
    assert (pair["total"], pair["by_status"]) == (None, {"requested": None, "completed": None})
    assert pair["hours"]["accept"] == {"median": None, "p90": None, "n": None}
    period = NOW.astimezone(dt.timezone(dt.timedelta(hours=7))).strftime("%Y-%m")
    indicator = client.get("/v1/stats/indicators/354", params={"period": period}).json()
    assert {v["region_code"]: (v["percent"], v["suppressed"]) for v in indicator["values"]} == {
        "32.73": (None, True),  # one woman: she would be the cell
        "ALL": (None, True),
    }
    bad = client.get("/v1/stats/indicators/354", params={"period": "2026-13"})
    assert bad.status_code == 422
    assert "period must look like" in bad.json()["detail"]
    csv = client.get("/v1/stats/indicators/354", params={"period": period, "format": "csv"}).text
    assert csv.splitlines()[0] == "period,region_code,numerator,denominator,percent,suppressed"


def test_the_stream_tells_of_changes(app_client: tuple[TestClient, Any]) -> None:
    client, app = app_client
    with client.stream("GET", "/v1/stream") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines) == "retry: 3000"
        threading.Timer(0.3, app.state.hub.publish, args=(["r-1", "r-2"],)).start()
        received: list[str] = []
        deadline = time.monotonic() + 20  # past one heartbeat: a stream that only keeps alive fails
        for line in lines:
            received.append(line)
            if line.startswith("data: ") or time.monotonic() > deadline:
                break
    assert received[-2:] == ["event: change", 'data: {"referral_ids": ["r-1", "r-2"]}'], received


def test_coordinators_see_per_agency_who_acted_on_what_by_pseudonym(
    app_client: tuple[TestClient, Any], tracker_db: Database, tracker_settings: TrackerSettings
) -> None:
    """Each history entry carries the acting person's pseudonym (events from staff accounts); the staff
    figures count per person of one agency what they did, within the caller's region."""
    client, _ = app_client
    andi, rina = "stf_00000000000000a1", "stf_00000000000000b2"
    jakarta = Journey(region="31.75").then("ReferralAccepted", hours=1, actor_staff=andi)
    jakarta.then("ReferralStarted", hours=2, actor_staff=rina).then("ReferralNoteAdded", hours=3)
    bandung = Journey(region="32.73").then("ReferralAccepted", hours=1, actor_staff=andi)
    feed(tracker_db, tracker_settings, [jakarta, bandung])
    history = client.get(f"/v1/handoffs/{jakarta.referral_id}").json()["history"]
    assert [h["actor_staff"] for h in history] == [None, andi, rina, None]
    rows = client.get("/v1/stats/staff", params={"agency": "BAPAS-JAKTIM"}).json()
    assert [(r["actor_staff"], r["actions"], r["referrals"]) for r in rows] == [
        (andi, {"ReferralAccepted": 2}, 2),
        (rina, {"ReferralStarted": 1}, 1),
        (None, {"ReferralNoteAdded": 1}, 1),  # the agency's own system
    ]
    csv_lines = client.get("/v1/stats/staff", params={"agency": "BAPAS-JAKTIM", "format": "csv"}).text.splitlines()
    assert csv_lines[0] == (
        "actor_staff,referrals,last_acted_at,events_ReferralAccepted,events_ReferralNoteAdded,events_ReferralStarted"
    )
    assert csv_lines[1].startswith(f"{andi},2,")
    _, scoped = issue_tracker_credential(tracker_db, role=TrackerRole.COORDINATOR, name="Jabar", region_scope="32")
    in_jabar = client.get(
        "/v1/stats/staff", params={"agency": "BAPAS-JAKTIM"}, headers={"Authorization": f"Bearer {scoped}"}
    ).json()
    assert [(r["actor_staff"], r["referrals"]) for r in in_jabar] == [(andi, 1)]
    assert client.get("/v1/stats/staff", params={"agency": "LAPAS-CIPINANG"}).json()[0]["actions"] == {
        "ReferralCreated": 2
    }
    assert client.get("/v1/stats/staff").status_code == 422


def test_the_staff_figures_take_an_agency_code_only(app_client: tuple[TestClient, Any]) -> None:
    """The code names the CSV file: anything but an agency code (the fuzzer sent "Ā", which no header can
    carry) is a 422, never a 500."""
    client, _ = app_client
    for bad in ("Ā", "bapas", "-X", "A" * 41, "X Y"):
        answer = client.get("/v1/stats/staff", params={"agency": bad, "format": "csv"})
        assert answer.status_code == 422, bad
    assert client.get("/v1/stats/staff", params={"agency": "BAPAS-JAKTIM", "format": "csv"}).status_code == 200
