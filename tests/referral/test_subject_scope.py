"""Subjects are scoped to the agency that controls them: a known NIK reaches nobody else's subject, each
agency sees its own alias, erasure acts on what the caller controls, and no answer tells another agency's
holds or counts. On SQLite and PostgreSQL, over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rujukan.cli.main import app
from rujukan.referral.context import ReferralContext
from rujukan.referral.models import Referral, Subject
from rujukan.referral.settings import ReferralSettings
from rujukan.referral.subjects import set_legal_hold
from tests.referral.conftest import SUBJECT, Agencies, referral_body

pytestmark = pytest.mark.integration
LAPAS, BAPAS, SENTRA, RSUD = "LAPAS-CIPINANG", "BAPAS-JAKTIM", "KEMENSOS-HANDAYANI", "RSUD-KRAMATJATI"


def create(client: TestClient, agencies: Agencies, by: str, **changes: Any) -> dict[str, Any]:
    answer = client.post("/v1/referrals", json=referral_body(**changes), headers=agencies[by])
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def view(client: TestClient, agencies: Agencies, by: str, referral_id: str) -> dict[str, Any]:
    answer = client.get(f"/v1/referrals/{referral_id}", headers=agencies[by])
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def internal_subject(ctx: ReferralContext, referral_id: str) -> Subject:
    with ctx.read() as session:
        referral = session.get(Referral, referral_id)
        assert referral is not None
        subject = session.get(Subject, referral.subject_id)
        assert subject is not None
        return subject


def test_a_known_nik_sent_by_another_agency_gets_a_subject_of_its_own(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    lapas = create(client, agencies, LAPAS)
    sentra = create(client, agencies, SENTRA, to_agency=BAPAS)  # the same person, the same NIK
    again = create(client, agencies, LAPAS, to_agency=SENTRA, service_type="employment")
    assert again["subject_id"] == lapas["subject_id"]  # the same agency keeps its pseudonym
    assert sentra["subject_id"] != lapas["subject_id"]
    mine, theirs = internal_subject(ctx, lapas["id"]), internal_subject(ctx, sentra["id"])
    assert (mine.controller, theirs.controller) == (LAPAS, SENTRA)
    assert mine.id != theirs.id
    assert mine.person_index == theirs.person_index  # linked inside the service, shown to nobody
    for answer in (sentra, view(client, agencies, SENTRA, sentra["id"])):
        assert mine.id not in str(answer)
        assert lapas["subject_id"] not in str(answer)


def test_each_party_sees_its_own_alias_and_never_the_internal_id(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    created = create(client, agencies, LAPAS)
    by_lapas, by_bapas = view(client, agencies, LAPAS, created["id"]), view(client, agencies, BAPAS, created["id"])
    assert by_lapas["subject_id"] == by_lapas["subject"]["subject_id"] == created["subject_id"]
    assert by_bapas["subject_id"] != by_lapas["subject_id"]
    assert by_bapas["subject"]["full_name"] == SUBJECT["full_name"]  # the receiver reads the person, as before
    internal = internal_subject(ctx, created["id"]).id
    incoming = client.get("/v1/referrals", params={"direction": "incoming"}, headers=agencies[BAPAS]).json()
    assert [item["subject_id"] for item in incoming["items"]] == [by_bapas["subject_id"]]
    assert internal not in str(by_lapas) + str(by_bapas) + str(incoming)


def test_only_the_controller_erases_and_others_learn_nothing(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    created = create(client, agencies, LAPAS)
    seen_by_bapas = view(client, agencies, BAPAS, created["id"])["subject_id"]
    refused = client.post(f"/v1/subjects/{seen_by_bapas}/erase", headers=agencies[BAPAS])
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    outsider = client.post(f"/v1/subjects/{created['subject_id']}/erase", headers=agencies[RSUD])
    missing = client.post(f"/v1/subjects/sub_{'0' * 20}/erase", headers=agencies[RSUD])
    assert outsider.status_code == missing.status_code == 404
    assert outsider.json()["detail"] == missing.json()["detail"]
    # the controller's alias in another party's hands names nothing it can act on
    assert client.post(f"/v1/subjects/{created['subject_id']}/erase", headers=agencies[BAPAS]).status_code == 404
    assert view(client, agencies, LAPAS, created["id"])["subject"]["erased"] is False


def test_erasure_leaves_the_other_agencies_subjects_readable_and_tells_no_counts_or_holds(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    lapas = create(client, agencies, LAPAS)
    create(client, agencies, LAPAS, to_agency=SENTRA, service_type="employment")
    sentra = create(client, agencies, SENTRA, to_agency=BAPAS)
    set_legal_hold(ctx, subject_id=internal_subject(ctx, lapas["id"]).id, active=True)
    erased = client.post(f"/v1/subjects/{sentra['subject_id']}/erase", headers=agencies[SENTRA])
    assert erased.status_code == 200, erased.text  # LAPAS's hold is LAPAS's
    assert erased.json()["referrals"] == 1  # SENTRA's own, not the person's three
    assert view(client, agencies, SENTRA, sentra["id"])["subject"]["erased"] is True
    assert view(client, agencies, LAPAS, lapas["id"])["subject"]["full_name"] == SUBJECT["full_name"]
    held = client.post(f"/v1/subjects/{lapas['subject_id']}/erase", headers=agencies[LAPAS])
    assert held.status_code == 409  # LAPAS's own hold, told to LAPAS


def test_a_forward_puts_the_child_under_the_forwarders_own_subject(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    parent = create(client, agencies, LAPAS)
    forwarded = client.post(
        f"/v1/referrals/{parent['id']}/forward",
        json={"to_agency": SENTRA, "reason_code": "referred_elsewhere"},
        headers=agencies[BAPAS],
    )
    assert forwarded.status_code == 200, forwarded.text
    child_id = next(h["child_referral_id"] for h in forwarded.json()["history"] if h["child_referral_id"])
    child = internal_subject(ctx, child_id)
    assert child.controller == BAPAS
    assert child.id != internal_subject(ctx, parent["id"]).id
    assert client.post(f"/v1/subjects/{parent['subject_id']}/erase", headers=agencies[LAPAS]).status_code == 200
    for agency in (BAPAS, SENTRA):
        subject = view(client, agencies, agency, child_id)["subject"]
        assert (subject["erased"], subject["full_name"], subject["nik"]) == (
            False,
            SUBJECT["full_name"],
            SUBJECT["nik"],
        )
    assert view(client, agencies, BAPAS, parent["id"])["subject"]["erased"] is True


def test_an_operator_erases_every_subject_of_one_person(
    client: TestClient, agencies: Agencies, ctx: ReferralContext, settings: ReferralSettings
) -> None:
    lapas = create(client, agencies, LAPAS)
    sentra = create(client, agencies, SENTRA, to_agency=BAPAS)
    other = create(client, agencies, LAPAS, subject={**SUBJECT, "nik": "3175010101900009"})
    result = CliRunner().invoke(
        app,
        ["subject", "erase", internal_subject(ctx, lapas["id"]).id, "--person", "--data-dir", str(settings.data_dir)],
        env={"RUJUKAN_REFERRAL_DATABASE_URL": settings.database_url(), "RUJUKAN_MASTER_KEY": _master_key(settings)},
    )
    assert result.exit_code == 0, result.output
    assert "erased 2 subject(s)" in result.output
    assert view(client, agencies, LAPAS, lapas["id"])["subject"]["erased"] is True
    assert view(client, agencies, SENTRA, sentra["id"])["subject"]["erased"] is True
    assert view(client, agencies, LAPAS, other["id"])["subject"]["erased"] is False


def _master_key(settings: ReferralSettings) -> str:
    assert settings.master_key is not None
    return settings.master_key.get_secret_value()
