"""Pathways (issue #24 part 2): a template started for a person 30 days before the anchor (the expected release
date) creates its steps as one case; the scheduler sends each planned step on its day, with an injected clock,
across restarts of the service and with two instances at once, and never twice. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select
from typer.testing import CliRunner

from rujukan.cli.main import app
from rujukan.core.codec import EventCodec
from rujukan.core.db import make_engine
from rujukan.core.keyring import Keyring
from rujukan.core.vocabulary import AgencyKind
from rujukan.referral.api.app import create_app
from rujukan.referral.context import ReferralContext
from rujukan.referral.models import ReferralEvent
from rujukan.referral.pathways import bundled_templates, load_templates, send_due, templates_from_files
from rujukan.referral.registry import AgencyIn, add_agency, issue_credential
from rujukan.referral.settings import ReferralSettings
from tests.referral.conftest import SUBJECT

pytestmark = pytest.mark.integration
LAPAS, BAPAS, SENTRA, CSO, OUTSIDER = (
    "LAPAS-CIPINANG",
    "BAPAS-JAKTIM",
    "KEMENSOS-HANDAYANI",
    "YAYASAN-KARYA",
    "RSUD-KRAMATJATI",
)
T0 = dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC)  # 10:00 WIB
ANCHOR = (T0 + dt.timedelta(days=30)).date()  # the expected release date, 30 days ahead


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@contextmanager
def service(settings: ReferralSettings, clock: Callable[[], dt.datetime]) -> Iterator[ReferralContext]:
    """One run of the referral service on the test's database (a new engine and writer: a restart)."""
    engine = make_engine(settings.database_url())
    ctx = ReferralContext(
        engine=engine, master_key=settings.load_master_key(), signing=settings.load_signing_keys(), clock=clock
    )
    try:
        yield ctx
    finally:
        ctx.close()
        engine.dispose()


def start(client: TestClient, headers: dict[str, dict[str, str]], *, key: str | None = None, **changes: Any) -> Any:
    """The Lapas starts a conditional release pathway with ``start_body(**changes)`` (and an Idempotency-Key)."""
    sent = {**headers[LAPAS], **({"Idempotency-Key": key} if key else {})}
    return client.post("/v1/pathway-templates/conditional_release/start", json=start_body(**changes), headers=sent)


def start_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "anchor_date": ANCHOR.isoformat(),
        "agencies": {"supervision": BAPAS, "rehabilitation": SENTRA, "employment": CSO},
        "reason": "Bebas bersyarat: pembimbingan, pelatihan, lalu kerja",
        "legal_basis": "legal_obligation",
        "subject": dict(SUBJECT),
    }
    body.update(changes)
    return body


@pytest.fixture
def headers(ctx: ReferralContext) -> dict[str, dict[str, str]]:
    add_agency(ctx, agency=AgencyIn(code=CSO, name="Yayasan Karya", kind=AgencyKind.CSO, region_code="31.75"))
    load_templates(ctx, templates_from_files(bundled_templates()))
    codes = (LAPAS, BAPAS, SENTRA, CSO, OUTSIDER)
    return {code: {"Authorization": f"Bearer {issue_credential(ctx, agency_code=code).secret}"} for code in codes}


def sent_events(ctx: ReferralContext) -> dict[str, list[dict[str, Any]]]:
    """Every ReferralSent event of the store, by referral."""
    codec = EventCodec()
    with ctx.read() as session:
        rows = session.exec(select(ReferralEvent).where(col(ReferralEvent.event_type) == "ReferralSent")).all()
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        found.setdefault(row.referral_id, []).append(dict(codec.decode(row.payload).record))
    return found


def test_a_pathway_30_days_ahead_sends_each_step_on_its_day_once_across_restarts_and_two_instances(
    settings: ReferralSettings, headers: dict[str, dict[str, str]]
) -> None:
    clock = Clock(T0)
    with service(settings, clock) as ctx, TestClient(create_app(settings, context=ctx)) as client:
        answer = start(client, headers, key="pathway-budi")
        assert answer.status_code == 201, answer.text
        started = answer.json()
        again = start(client, headers, key="pathway-budi")
        assert again.json() == started
        assert again.headers["Idempotent-Replayed"] == "true"
        supervision, rehabilitation, employment = (step["id"] for step in started["steps"])
        # the step 30 days before the anchor is due today: sent at once; the others are planned
        assert [s["status"] for s in started["steps"]] == ["requested", "planned", "planned"]
        assert [s["planned_for"] for s in started["steps"]] == [
            None,
            f"{ANCHOR.isoformat()}T01:00:00Z",
            f"{(ANCHOR + dt.timedelta(days=30)).isoformat()}T01:00:00Z",
        ]
        assert {s["case_id"] for s in started["steps"]} == {started["case_id"]}
        assert [s["continues_referral_id"] for s in started["steps"]] == [None, supervision, rehabilitation]
        assert {s["pathway_id"] for s in started["steps"]} == {started["pathway_id"]}
        assert len({s["subject_id"] for s in started["steps"]}) == 1  # one person, one pseudonym
        # the receiver sees its planned step, cannot act on it yet; an outsider sees nothing
        incoming = client.get(
            "/v1/referrals", params={"direction": "incoming", "status": "planned"}, headers=headers[SENTRA]
        )
        assert [r["id"] for r in incoming.json()["items"]] == [rehabilitation]
        early = client.post(f"/v1/referrals/{rehabilitation}/accept", headers=headers[SENTRA])
        assert early.status_code == 409
        assert early.json()["allowed_actions"] == ["note"]
        assert client.get(f"/v1/referrals/{rehabilitation}", headers=headers[OUTSIDER]).status_code == 404
        steps = client.get(
            "/v1/referrals",
            params={"direction": "outgoing", "pathway_id": started["pathway_id"]},
            headers=headers[LAPAS],
        )
        assert {r["id"] for r in steps.json()["items"]} == {supervision, rehabilitation, employment}
        clock.now = T0 + dt.timedelta(days=29)
        assert send_due(ctx) == 0

    clock.now = dt.datetime.combine(ANCHOR, dt.time(1, 0), dt.UTC)  # the restarted service, on release day
    with service(settings, clock) as ctx:
        assert send_due(ctx) == 1
        assert send_due(ctx) == 0
    assert set(sent_events_of(settings, clock)) == {rehabilitation}

    clock.now = dt.datetime.combine(ANCHOR + dt.timedelta(days=30), dt.time(2, 0), dt.UTC)
    with service(settings, clock) as first, service(settings, clock) as second:  # two replicas at once
        counts: list[int] = []
        threads = [threading.Thread(target=lambda c=c: counts.append(send_due(c))) for c in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(counts) == [0, 1]
        sent = sent_events(first)
    assert {referral: len(events) for referral, events in sent.items()} == {rehabilitation: 1, employment: 1}
    employment_sent = sent[employment][0]
    # the employment step has its own SLA in the template: 120 h to acknowledge, 240 h to respond
    assert employment_sent["ack_due_at"] - employment_sent["occurred_at"] == dt.timedelta(hours=120)
    assert employment_sent["respond_due_at"] - employment_sent["occurred_at"] == dt.timedelta(hours=240)
    with service(settings, clock) as ctx, TestClient(create_app(settings, context=ctx)) as client:
        view = client.get(f"/v1/referrals/{employment}", headers=headers[CSO]).json()
        assert view["status"] == "requested"
        assert [h["event_type"] for h in view["history"]] == ["ReferralCreated", "ReferralSent"]
        assert client.post(f"/v1/referrals/{employment}/accept", headers=headers[CSO]).status_code == 200


def sent_events_of(settings: ReferralSettings, clock: Clock) -> dict[str, list[dict[str, Any]]]:
    with service(settings, clock) as ctx:
        return sent_events(ctx)


def test_a_cancelled_step_is_never_sent_and_the_requester_may_send_one_early(
    settings: ReferralSettings, headers: dict[str, dict[str, str]]
) -> None:
    clock = Clock(T0)
    with service(settings, clock) as ctx, TestClient(create_app(settings, context=ctx)) as client:
        started = start(client, headers).json()
        _, rehabilitation, employment = (step["id"] for step in started["steps"])
        assert client.post(f"/v1/referrals/{rehabilitation}/send", headers=headers[SENTRA]).status_code == 409
        sent = client.post(f"/v1/referrals/{rehabilitation}/send", headers=headers[LAPAS])
        assert sent.status_code == 200, sent.text
        assert sent.json()["status"] == "requested"
        cancelled = client.post(
            f"/v1/referrals/{employment}/cancel", json={"reason_code": "subject_declined"}, headers=headers[LAPAS]
        )
        assert cancelled.status_code == 200, cancelled.text
        clock.now = T0 + dt.timedelta(days=90)
        assert send_due(ctx) == 0
        assert set(sent_events(ctx)) == {rehabilitation}


@pytest.mark.parametrize(
    ("code", "changes", "expected"),
    [
        ("conditional_release", {"agencies": {"supervision": BAPAS, "rehabilitation": SENTRA}}, "missing agencies for"),
        (
            "conditional_release",
            {"agencies": {"supervision": SENTRA, "rehabilitation": SENTRA, "employment": CSO}},
            "not a corrections agency",
        ),
        ("conditional_release", {"subject": {**SUBJECT, "category": "violence_victim_woman"}}, "subject.category"),
        ("conditional_release", {"anchor_date": "2029-06-01"}, "two years after today"),
        ("conditional_release", {"anchor_date": "9999-12-31"}, "two years after today"),
        ("conditional_release", {"anchor_date": "0001-01-01"}, "a year before"),
        (
            "conditional_release",
            {"agencies": {"supervision": BAPAS, "rehabilitation": OUTSIDER, "employment": CSO}},
            "step rehabilitation",
        ),
    ],
)
def test_a_start_that_breaks_a_rule_is_422_and_creates_nothing(
    client: TestClient, headers: dict[str, dict[str, str]], code: str, changes: dict[str, Any], expected: str
) -> None:
    answer = client.post(f"/v1/pathway-templates/{code}/start", json=start_body(**changes), headers=headers[LAPAS])
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert expected in answer.json()["detail"]
    assert SUBJECT["full_name"] not in answer.text
    assert SUBJECT["nik"] not in answer.text
    listed = client.get("/v1/referrals", params={"direction": "outgoing"}, headers=headers[LAPAS])
    assert listed.json()["items"] == []


def test_an_unknown_template_is_404_and_the_templates_are_listed(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    missing = client.post("/v1/pathway-templates/nope/start", json=start_body(), headers=headers[LAPAS])
    assert missing.status_code == 404
    for odd in ("nope%00", "x" * 300, "DROP%20TABLE"):  # not codes at all: the same 404, never a 500
        answer = client.get(f"/v1/pathway-templates/{odd}", headers=headers[LAPAS])
        assert (answer.status_code, answer.json()) == (404, missing.json())
    listed = client.get("/v1/pathway-templates", headers=headers[BAPAS]).json()
    assert [t["code"] for t in listed] == ["conditional_release", "deradicalisation_reintegration", "violence_victim"]
    assert client.get("/v1/pathway-templates").status_code == 401


def test_pathway_load_checks_every_file_before_loading_any(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Keyring.generate().write(tmp_path / "master.key")
    monkeypatch.setenv("RUJUKAN_MASTER_KEY_FILE", str(tmp_path / "master.key"))
    runner, data = CliRunner(), ["--data-dir", str(tmp_path / "data")]
    bad = tmp_path / "bad.json"
    bad.write_text('{"code": "x", "steps": []}')
    result = runner.invoke(app, ["pathway", "load", str(bundled_templates()[0]), str(bad), *data])
    assert result.exit_code != 0
    assert "bad.json" in result.output
    assert "nothing loaded" in result.output
    listed = runner.invoke(app, ["pathway", "list", "--json", *data])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output) == []
    loaded = runner.invoke(app, ["pathway", "load", *data])
    assert loaded.exit_code == 0, loaded.output
    assert "3 pathway templates loaded" in loaded.output
    listed = runner.invoke(app, ["pathway", "list", *data])
    assert "conditional_release" in listed.output
    assert "supervision (-30 d)" in listed.output


def test_a_referral_made_ahead_is_planned_until_its_time_and_a_time_past_is_refused(
    settings: ReferralSettings, headers: dict[str, dict[str, str]]
) -> None:
    clock = Clock(T0)
    body = {
        "to_agency": BAPAS,
        "service_type": "supervision",
        "urgency": "urgent",
        "reason": "Bebas bersyarat",
        "legal_basis": "legal_obligation",
        "subject": dict(SUBJECT),
    }
    with service(settings, clock) as ctx, TestClient(create_app(settings, context=ctx)) as client:
        past = client.post(
            "/v1/referrals", json={**body, "planned_for": "2026-12-01T00:00:00+07:00"}, headers=headers[LAPAS]
        )
        assert past.status_code == 422
        assert "not in the future" in past.json()["detail"]
        ahead = client.post(
            "/v1/referrals", json={**body, "planned_for": "2026-12-09T08:00:00+07:00"}, headers=headers[LAPAS]
        )
        assert ahead.status_code == 201, ahead.text
        assert (ahead.json()["status"], ahead.json()["pathway_id"]) == ("planned", None)
        clock.now = dt.datetime(2026, 12, 9, 0, 59, tzinfo=dt.UTC)
        assert send_due(ctx) == 0
        clock.now = dt.datetime(2026, 12, 9, 1, 0, tzinfo=dt.UTC)  # 08:00 WIB
        assert send_due(ctx) == 1
        [sent] = sent_events(ctx)[ahead.json()["id"]]
        assert sent["ack_due_at"] == clock.now + dt.timedelta(hours=24)  # urgent: the policy's 24 h from the send


def test_erasing_the_person_cancels_the_steps_not_sent_yet(
    settings: ReferralSettings, headers: dict[str, dict[str, str]]
) -> None:
    clock = Clock(T0)
    with service(settings, clock) as ctx, TestClient(create_app(settings, context=ctx)) as client:
        started = start(client, headers).json()
        subject_id = started["steps"][0]["subject_id"]
        erased = client.post(f"/v1/subjects/{subject_id}/erase", headers=headers[LAPAS])
        assert erased.status_code == 200, erased.text
        statuses = {
            r["id"]: r["status"]
            for r in client.get(
                "/v1/referrals",
                params={"direction": "outgoing", "pathway_id": started["pathway_id"]},
                headers=headers[LAPAS],
            ).json()["items"]
        }
        first, *later = (step["id"] for step in started["steps"])
        assert statuses == {first: "requested", **dict.fromkeys(later, "cancelled")}
        view = client.get(f"/v1/referrals/{later[0]}", headers=headers[SENTRA]).json()
        assert [h["event_type"] for h in view["history"]] == ["ReferralCreated", "SubjectErased", "ReferralCancelled"]
        assert view["history"][-1]["actor_agency"] == LAPAS
        clock.now = T0 + dt.timedelta(days=90)
        assert send_due(ctx) == 0


def complete_every_step(client: TestClient, headers: dict[str, dict[str, str]], steps: list[dict[str, Any]]) -> None:
    for step in steps:
        if step["status"] == "planned":
            assert client.post(f"/v1/referrals/{step['id']}/send", headers=headers[LAPAS]).status_code == 200
        receiver = headers[step["to_agency"]]
        assert client.post(f"/v1/referrals/{step['id']}/accept", headers=receiver).status_code == 200
        done = client.post(f"/v1/referrals/{step['id']}/complete", json={"outcome": "goals_met"}, headers=receiver)
        assert done.status_code == 200, done.text


def test_follow_ups_fall_due_3_6_and_12_months_after_the_last_step_and_are_recorded_once(
    settings: ReferralSettings, headers: dict[str, dict[str, str]]
) -> None:
    clock = Clock(T0)
    with service(settings, clock) as ctx, TestClient(create_app(settings, context=ctx)) as client:
        started = start(client, headers).json()
        steps = started["steps"]
        assert client.get("/v1/follow-ups", headers=headers[LAPAS]).json()["items"] == []  # not finished yet
        early = client.post(
            f"/v1/referrals/{steps[0]['id']}/follow-ups",
            json={"checkpoint_months": 3, "outcome": "employed"},
            headers=headers[LAPAS],
        )
        assert early.status_code == 409  # steps still open
        complete_every_step(client, headers, steps)
        last = steps[-1]["id"]  # completed last
        tasks = client.get("/v1/follow-ups", headers=headers[LAPAS]).json()["items"]
        assert [(t["checkpoint_months"], t["state"], t["referral_id"]) for t in tasks] == [
            (3, "upcoming", last),
            (6, "upcoming", last),
            (12, "upcoming", last),
        ]
        assert tasks[0]["due_at"] == "2027-03-02T03:00:00Z"  # three calendar months after the completion
        body = {"checkpoint_months": 3, "outcome": "employed", "note": "Bekerja di bengkel sejak Februari"}
        url = f"/v1/referrals/{last}/follow-ups"
        not_yet = client.post(url, json=body, headers=headers[LAPAS])
        assert not_yet.status_code == 422
        assert "falls due on 2027-03-02" in not_yet.json()["detail"]
        clock.now = dt.datetime(2027, 2, 20, tzinfo=dt.UTC)  # within two weeks of it
        assert client.post(url, json=body, headers=headers[CSO]).status_code == 409  # the receiver does not record it
        on_another_step = client.post(f"/v1/referrals/{steps[0]['id']}/follow-ups", json=body, headers=headers[LAPAS])
        assert on_another_step.status_code == 422
        assert last in on_another_step.json()["detail"]
        outsider = client.post(url, json=body, headers=headers[OUTSIDER])
        ghost = client.post(f"/v1/referrals/{uuid.uuid4()}/follow-ups", json=body, headers=headers[OUTSIDER])
        assert (outsider.status_code, outsider.json()) == (404, ghost.json())
        recorded = client.post(url, json=body, headers=headers[LAPAS])
        assert recorded.status_code == 201, recorded.text
        assert (recorded.json()["state"], recorded.json()["outcome"]) == ("recorded", "employed")
        assert client.post(url, json=body, headers=headers[LAPAS]).status_code == 409  # once
        clock.now = dt.datetime(2027, 6, 10, tzinfo=dt.UTC)
        states = [t["state"] for t in client.get("/v1/follow-ups", headers=headers[LAPAS]).json()["items"]]
        assert states == ["recorded", "overdue", "upcoming"]
        view = client.get(f"/v1/referrals/{last}", headers=headers[CSO]).json()
        assert view["status"] == "completed"
        assert view["history"][-1]["event_type"] == "FollowUpRecorded"
        assert view["history"][-1]["note"] == body["note"]  # sealed, opened for a party
        # once the person is erased, a check is still recorded, but a note is refused rather than lost
        erased = client.post(f"/v1/subjects/{steps[0]['subject_id']}/erase", headers=headers[LAPAS])
        assert erased.status_code == 200, erased.text
        six = {"checkpoint_months": 6, "outcome": "lost_to_follow_up"}
        assert client.post(url, json={**six, "note": "Pindah"}, headers=headers[LAPAS]).status_code == 409
        assert client.post(url, json=six, headers=headers[LAPAS]).status_code == 201


def test_a_referral_outside_any_pathway_has_no_follow_ups(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    body = {**start_body(), "to_agency": BAPAS, "service_type": "supervision", "urgency": "urgent"}
    for name in ("anchor_date", "agencies"):
        body.pop(name)
    referral = client.post("/v1/referrals", json=body, headers=headers[LAPAS]).json()
    assert client.post(f"/v1/referrals/{referral['id']}/accept", headers=headers[BAPAS]).status_code == 200
    completed = client.post(
        f"/v1/referrals/{referral['id']}/complete", json={"outcome": "goals_met"}, headers=headers[BAPAS]
    )
    assert completed.status_code == 200
    answer = client.post(
        f"/v1/referrals/{referral['id']}/follow-ups",
        json={"checkpoint_months": 3, "outcome": "employed"},
        headers=headers[LAPAS],
    )
    assert answer.status_code == 422
    assert "not a step of a pathway" in answer.json()["detail"]


NOTE = "Belum punya tempat tinggal setelah bebas"
ASSESSMENT: dict[str, Any] = {
    "instrument": "Litmas",
    "assessed_at": "2026-11-28T09:00:00+07:00",
    "domains": {"housing": 2, "employment": 3, "family": 1, "attitudes": 0},
    "note": NOTE,
}


def test_an_assessment_travels_with_every_step_sealed_and_only_parties_read_it(
    settings: ReferralSettings, headers: dict[str, dict[str, str]]
) -> None:
    clock = Clock(T0)
    with service(settings, clock) as ctx, TestClient(create_app(settings, context=ctx)) as client:
        started = start(client, headers, assessment=ASSESSMENT)
        assert started.status_code == 201, started.text
        supervision, rehabilitation, _ = (step["id"] for step in started.json()["steps"])
        seen = client.get(f"/v1/referrals/{rehabilitation}", headers=headers[SENTRA]).json()["assessment"]
        assert seen["domains"] == ASSESSMENT["domains"]
        assert (seen["instrument"], seen["note"]) == ("Litmas", ASSESSMENT["note"])
        assert client.get(f"/v1/referrals/{rehabilitation}", headers=headers[OUTSIDER]).status_code == 404
        with ctx.read() as session:
            payloads = [row.payload for row in session.exec(select(ReferralEvent)).all()]
        assert all(b"Litmas" not in p and NOTE.encode() not in p for p in payloads)  # sealed
        created = EventCodec().decode(payloads[0]).record
        assert created["sealed_assessment"]
        # a forward carries it on, sealed again under the forwarder's own subject
        forwarded = client.post(
            f"/v1/referrals/{supervision}/forward",
            json={"to_agency": SENTRA, "reason_code": "referred_elsewhere"},
            headers=headers[BAPAS],
        ).json()
        child = next(h["child_referral_id"] for h in forwarded["history"] if h["child_referral_id"])
        assert client.get(f"/v1/referrals/{child}", headers=headers[SENTRA]).json()["assessment"] == seen
        future = {**ASSESSMENT, "assessed_at": "2027-01-01T00:00:00+07:00"}
        refused = start(client, headers, assessment=future)
        assert refused.status_code == 422
        assert "assessment.assessed_at is in the future" in refused.json()["detail"]
        bad = start(client, headers, assessment={**ASSESSMENT, "domains": {"housing": 4}})
        assert bad.status_code == 422
        erased = client.post(f"/v1/subjects/{started.json()['steps'][0]['subject_id']}/erase", headers=headers[LAPAS])
        assert erased.status_code == 200
        assert client.get(f"/v1/referrals/{rehabilitation}", headers=headers[SENTRA]).json()["assessment"] is None


def test_a_forwarded_step_is_followed_to_its_end_before_the_follow_ups_begin(
    settings: ReferralSettings, headers: dict[str, dict[str, str]]
) -> None:
    clock = Clock(T0)
    with service(settings, clock) as ctx, TestClient(create_app(settings, context=ctx)) as client:
        steps = start(client, headers).json()["steps"]
        forwarded = client.post(
            f"/v1/referrals/{steps[0]['id']}/forward",
            json={"to_agency": SENTRA, "reason_code": "referred_elsewhere"},
            headers=headers[BAPAS],
        )
        assert forwarded.status_code == 200, forwarded.text
        child = next(h["child_referral_id"] for h in forwarded.json()["history"] if h["child_referral_id"])
        complete_every_step(client, headers, steps[1:])
        assert client.get("/v1/follow-ups", headers=headers[LAPAS]).json()["items"] == []  # the child is open
        assert (
            client.get(f"/v1/referrals/{child}", headers=headers[SENTRA]).json()["pathway_id"] == steps[0]["pathway_id"]
        )
        assert client.post(f"/v1/referrals/{child}/accept", headers=headers[SENTRA]).status_code == 200
        done = client.post(f"/v1/referrals/{child}/complete", json={"outcome": "goals_met"}, headers=headers[SENTRA])
        assert done.status_code == 200
        tasks = client.get("/v1/follow-ups", headers=headers[LAPAS]).json()["items"]
        assert {t["referral_id"] for t in tasks} == {steps[-1]["id"]}  # the starter's own step completed last
        assert len(tasks) == 3
        assert client.get("/v1/follow-ups", headers=headers[BAPAS]).json()["items"] == []  # it only forwarded
