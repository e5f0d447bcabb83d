"""Canaries: recognisable identifying data goes in through the API and must come out nowhere else.

Checked: every message on the topic, every log record (all loggers, DEBUG), every error body, and for
SQLite the raw database and WAL files. Only the parties' GET shows it, decrypted.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from rujukan.core.broker import Broker
from rujukan.referral.api.app import create_app
from rujukan.referral.context import ReferralContext
from rujukan.referral.models import ReferralEvent
from rujukan.referral.settings import ReferralSettings
from tests.kafka_helpers import own_topics, read_topic
from tests.referral.conftest import SUBJECT, Agencies, referral_body, wait_until_published

pytestmark = pytest.mark.integration
CANARIES = {
    "full_name": "Kanaria Zyxwvut Fiktif",
    "nik": "9876543210123456",
    "phone": "+62 899 1357 2468",
    "address": "Jalan Kanari Zyxw 77",
    "reason": "CanaryReason-qwzx",
    "note": "CanaryNote-plmk",
}


def _canary_subject() -> dict[str, str]:
    return {**SUBJECT, **{k: CANARIES[k] for k in ("full_name", "nik", "phone", "address")}}


def test_identifying_data_appears_nowhere_but_the_parties_view(
    settings: ReferralSettings,
    ctx: ReferralContext,
    agencies: Agencies,
    broker: Broker,
    caplog: pytest.LogCaptureFixture,
    backend: str,
    tmp_path: Path,
) -> None:
    run_settings = settings.model_copy(
        update={
            "kafka_bootstrap": broker.bootstrap,
            "relay_in_process": True,
            "topics": own_topics(),
        }
    )
    caplog.set_level(logging.DEBUG)
    error_bodies: list[str] = []
    with TestClient(create_app(run_settings, context=ctx), raise_server_exceptions=False) as client:
        body = referral_body(subject=_canary_subject(), reason=CANARIES["reason"])
        created = client.post("/v1/referrals", json=body, headers=agencies["LAPAS-CIPINANG"]).json()
        referral_id = created["id"]
        for action, extra in [
            ("acknowledge", {"note": CANARIES["note"]}),
            ("note", {"note": CANARIES["note"]}),
            ("forward", {"to_agency": "KEMENSOS-HANDAYANI", "reason_code": "other", "note": CANARIES["note"]}),
        ]:
            response = client.post(
                f"/v1/referrals/{referral_id}/{action}", json=extra, headers=agencies["BAPAS-JAKTIM"]
            )
            assert response.status_code == 200, response.text
        view = client.get(f"/v1/referrals/{referral_id}", headers=agencies["BAPAS-JAKTIM"]).json()
        assert view["subject"]["full_name"] == CANARIES["full_name"]  # the parties do see it
        error_bodies += _provoke_errors(client, agencies, referral_id)
        wait_until_published(ctx)
    with ctx.read() as session:
        count = len(session.exec(select(ReferralEvent)).all())
    topic_bytes = b"".join(
        (r.value or b"") + (r.key or b"") + b"".join(v for _, v in r.headers)
        for r in read_topic(run_settings, run_settings.topics.referral_events, expected=count)
    )
    places = {"topic": topic_bytes, "logs": caplog.text.encode(), "errors": "\n".join(error_bodies).encode()}
    if backend == "sqlite":
        database = Path(settings.database_url().removeprefix("sqlite:///"))
        places["sqlite files"] = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    assert len(topic_bytes) > 1000
    assert len(error_bodies) >= 4
    leaks = [
        f"{field} in {place}"
        for place, data in places.items()
        for field, canary in CANARIES.items()
        if canary.encode() in data
    ]
    assert leaks == []


def _provoke_errors(client: TestClient, agencies: Agencies, referral_id: str) -> list[str]:
    """Bad requests that carry canaries; their error bodies must not repeat them."""
    bad_nik = {**_canary_subject(), "nik": CANARIES["nik"] + "X"}
    requests = [
        ("POST", "/v1/referrals", referral_body(subject=bad_nik), "LAPAS-CIPINANG"),
        (
            "POST",
            "/v1/referrals",
            {**referral_body(subject=_canary_subject()), "extra": CANARIES["full_name"]},
            "LAPAS-CIPINANG",
        ),
        ("POST", "/v1/referrals", referral_body(subject=_canary_subject(), to_agency="NOPE"), "LAPAS-CIPINANG"),
        ("POST", f"/v1/referrals/{referral_id}/note", {"note": CANARIES["note"], "outcome": "x"}, "BAPAS-JAKTIM"),
        (
            "POST",
            f"/v1/referrals/{referral_id}/complete",
            {"outcome": "goals_met", "note": CANARIES["note"]},
            "BAPAS-JAKTIM",
        ),
        ("GET", f"/v1/referrals/{referral_id}", None, "RSUD-KRAMATJATI"),
    ]
    bodies = []
    for method, url, body, agency in requests:
        response = client.request(method, url, json=body, headers=agencies[agency])
        assert response.status_code >= 400
        bodies.append(response.text)
    return bodies
