"""The data subject's rights through the agency API, on SQLite and PostgreSQL: access (JSON and a printable
page), rectification, consent withdrawal, restriction, and retention; each recorded as an event on every
referral of the subject."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from rujukan.core.codec import EventCodec
from rujukan.referral.context import ReferralContext
from rujukan.referral.models import Referral, ReferralEvent, Subject
from rujukan.referral.retention import RETENTION_ACTOR, erase_expired
from rujukan.referral.subjects import set_legal_hold
from tests.referral.conftest import SUBJECT, Agencies, referral_body

pytestmark = pytest.mark.integration
LAPAS, BAPAS, SENTRA = "LAPAS-CIPINANG", "BAPAS-JAKTIM", "KEMENSOS-HANDAYANI"
CONSENT = {"given_by": "subject", "recorded_at": "2026-11-01T09:00:00+07:00"}


def create(client: TestClient, agencies: Agencies, **changes: Any) -> dict[str, Any]:
    answer = client.post("/v1/referrals", json=referral_body(**changes), headers=agencies[LAPAS])
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def events(ctx: ReferralContext, referral_id: str) -> list[tuple[str, dict[str, Any]]]:
    codec = EventCodec()
    with ctx.read() as session:
        rows = session.exec(
            select(ReferralEvent).where(ReferralEvent.referral_id == referral_id).order_by(col(ReferralEvent.seq))
        ).all()
        return [(row.event_type, codec.decode(row.payload).record) for row in rows]


def right(client: TestClient, agencies: Agencies, by: str, subject_id: str, name: str, **body: Any) -> Any:
    return client.post(f"/v1/subjects/{subject_id}/{name}", json=body or None, headers=agencies[by])


def test_access_gives_everything_held_and_a_printable_page(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    first = create(client, agencies, subject={**SUBJECT, "full_name": "Budi <script>alert(1)</script>"})
    client.post(f"/v1/referrals/{first['id']}/note", json={"note": "Klien datang"}, headers=agencies[BAPAS])
    second = create(client, agencies, to_agency=SENTRA, service_type="employment")
    record = client.get(f"/v1/subjects/{first['subject_id']}/record", headers=agencies[LAPAS])
    assert record.status_code == 200, record.text
    body = record.json()
    assert (body["subject_id"], body["controlled_by_you"], body["erased"]) == (first["subject_id"], True, False)
    assert [r["id"] for r in body["referrals"]] == [first["id"], second["id"]]
    history = body["referrals"][0]["history"]
    assert [h["note"] for h in history if h["event_type"] == "ReferralNoteAdded"] == ["Klien datang"]
    assert history[-1]["event_type"] == "SubjectAccessed"  # the access itself is on the record
    received = client.get(f"/v1/referrals/{first['id']}", headers=agencies[BAPAS]).json()[
        "subject_id"
    ]  # the receiver's own alias
    by_receiver = client.get(f"/v1/subjects/{received}/record", headers=agencies[BAPAS]).json()
    assert [r["id"] for r in by_receiver["referrals"]] == [first["id"]]  # what BAPAS holds, not SENTRA's
    assert by_receiver["controlled_by_you"] is False
    page = client.get(f"/v1/subjects/{first['subject_id']}/record", params={"format": "html"}, headers=agencies[LAPAS])
    assert page.headers["content-type"].startswith("text/html")
    assert "Rekam data subjek" in page.text
    assert "<script>" not in page.text
    assert "Budi &lt;script&gt;" in page.text
    assert [t for t, _ in events(ctx, first["id"])].count("SubjectAccessed") == 3  # two JSON, one page


def test_rectification_reseals_moves_the_nik_and_never_merges(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    created = create(client, agencies)
    other = create(client, agencies, subject={**SUBJECT, "nik": "3175010101900002"})
    corrected = right(
        client,
        agencies,
        LAPAS,
        created["subject_id"],
        "correct",
        full_name="Budi Santoso",
        nik="3175010101900009",
        birth_date="2010-05-01",
    )
    assert corrected.status_code == 200, corrected.text
    for agency in (LAPAS, BAPAS):
        subject = client.get(f"/v1/referrals/{created['id']}", headers=agencies[agency]).json()["subject"]
        assert (subject["full_name"], subject["nik"], subject["age_band"]) == (
            "Budi Santoso",
            "3175010101900009",
            "age_13_17",
        )
    kind, event = events(ctx, created["id"])[-1]
    assert kind == "SubjectCorrected"
    assert b"Budi Santoso" not in event["sealed_subject"]
    again = create(client, agencies, subject={**SUBJECT, "nik": "3175010101900009"})
    assert again["subject_id"] == created["subject_id"]  # the new NIK finds the corrected subject
    clash = right(client, agencies, LAPAS, other["subject_id"], "correct", nik="3175010101900009")
    assert clash.status_code == 409  # another subject of LAPAS has it: two people are never merged
    seen_by_bapas = client.get(f"/v1/referrals/{created['id']}", headers=agencies[BAPAS]).json()["subject_id"]
    assert right(client, agencies, BAPAS, seen_by_bapas, "correct", full_name="X").status_code == 403
    assert right(client, agencies, LAPAS, created["subject_id"], "correct").status_code == 422  # nothing to correct


def test_consent_withdrawal_cancels_the_open_referrals_that_rest_on_it(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    on_consent = create(client, agencies, legal_basis="consent", consent=CONSENT)
    closed = create(
        client, agencies, legal_basis="consent", consent=CONSENT, to_agency=SENTRA, service_type="employment"
    )
    client.post(f"/v1/referrals/{closed['id']}/reject", json={"reason_code": "capacity_full"}, headers=agencies[SENTRA])
    by_law = create(client, agencies)  # legal obligation: not concerned
    answer = right(client, agencies, LAPAS, on_consent["subject_id"], "withdraw-consent")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["referrals"], answer.json()["cancelled"]) == (1, 1)
    view = client.get(f"/v1/referrals/{on_consent['id']}", headers=agencies[BAPAS]).json()
    assert view["status"] == "cancelled"
    assert [t for t, _ in events(ctx, on_consent["id"])][-2:] == ["ConsentWithdrawn", "ReferralCancelled"]
    assert events(ctx, on_consent["id"])[-1][1]["reason_code"] == "subject_declined"
    for untouched in (closed, by_law):
        assert "ConsentWithdrawn" not in [t for t, _ in events(ctx, untouched["id"])]


def test_restriction_leaves_only_the_controller_until_lifted(client: TestClient, agencies: Agencies) -> None:
    created = create(client, agencies)
    assert right(client, agencies, LAPAS, created["subject_id"], "restrict").status_code == 200
    refused = client.get(f"/v1/referrals/{created['id']}", headers=agencies[BAPAS])
    assert refused.status_code == 409
    assert "restricted" in refused.json()["detail"]
    assert client.post(f"/v1/referrals/{created['id']}/accept", headers=agencies[BAPAS]).status_code == 409
    assert client.get(f"/v1/referrals/{created['id']}", headers=agencies[LAPAS]).status_code == 200
    assert right(client, agencies, LAPAS, created["subject_id"], "lift-restriction").status_code == 200
    assert client.post(f"/v1/referrals/{created['id']}/accept", headers=agencies[BAPAS]).status_code == 200


def test_retention_erases_closed_subjects_after_their_period_unless_held(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    closed = create(client, agencies)
    client.post(f"/v1/referrals/{closed['id']}/cancel", json={"reason_code": "duplicate"}, headers=agencies[LAPAS])
    held = create(client, agencies, subject={**SUBJECT, "nik": "3175010101900003"})
    client.post(f"/v1/referrals/{held['id']}/cancel", json={"reason_code": "duplicate"}, headers=agencies[LAPAS])
    still_open = create(client, agencies, subject={**SUBJECT, "nik": "3175010101900004"})
    with ctx.read() as session:
        held_subject = session.exec(select(Referral.subject_id).where(Referral.id == held["id"])).one()
    set_legal_hold(ctx, subject_id=held_subject, active=True)
    later = ctx.clock() + dt.timedelta(days=31)
    assert erase_expired(ctx, now=later, days={"default": 60}) == 0  # not yet
    assert erase_expired(ctx, now=later, days={"default": 30, "ex_inmate": 90}) == 1
    kind, event = events(ctx, closed["id"])[-1]
    assert (kind, event["erasure_reason"], event["actor_agency"]) == ("SubjectErased", "retention", RETENTION_ACTOR)
    with ctx.read() as session:
        erased = {s.id: s.erased_at is not None for s in session.exec(select(Subject)).all()}
    assert sum(erased.values()) == 1
    assert client.get(f"/v1/referrals/{still_open['id']}", headers=agencies[LAPAS]).json()["subject"]["erased"] is False


def test_the_domicile_below_kabupaten_kota_travels_sealed(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    created = create(client, agencies, subject={**SUBJECT, "region_code": "31.75.01.1001"})
    assert created["subject_region_code"] == "31.75"
    _, event = events(ctx, created["id"])[0]
    assert event["subject_region_code"] == "31.75"
    with ctx.read() as session:
        payload = session.exec(select(ReferralEvent.payload).where(ReferralEvent.referral_id == created["id"])).one()
    assert b"31.75.01.1001" not in payload
    for agency in (LAPAS, BAPAS):  # the parties read the full code
        view = client.get(f"/v1/referrals/{created['id']}", headers=agencies[agency]).json()
        assert view["subject"]["region_code"] == "31.75.01.1001"
