"""The agency API end to end over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from rujukan.core.credentials import CredentialCache
from rujukan.referral.context import ReferralContext
from rujukan.referral.errors import Unauthenticated
from rujukan.referral.models import Referral, ReferralEvent
from rujukan.referral.queries import Direction, list_referrals
from rujukan.referral.registry import authenticate, issue_credential, list_credentials, revoke_credential
from rujukan.referral.subjects import set_legal_hold
from tests.referral.conftest import SUBJECT, Agencies, referral_body

pytestmark = pytest.mark.integration
LAPAS, BAPAS, SENTRA = "LAPAS-CIPINANG", "BAPAS-JAKTIM", "KEMENSOS-HANDAYANI"


def _create(client: TestClient, agencies: Agencies, **changes: Any) -> dict[str, Any]:
    response = client.post("/v1/referrals", json=referral_body(**changes), headers=agencies[LAPAS])
    assert response.status_code == 201, response.text
    return dict(response.json())


def _act(client: TestClient, agencies: Agencies, code: str, referral_id: str, action: str, **body: Any) -> Any:
    return client.post(f"/v1/referrals/{referral_id}/{action}", json=body or None, headers=agencies[code])


def _events(ctx: ReferralContext, referral_id: str) -> list[ReferralEvent]:
    with ctx.read() as session:
        query = select(ReferralEvent).where(ReferralEvent.referral_id == referral_id).order_by(ReferralEvent.seq)  # type: ignore[arg-type]
        return list(session.exec(query).all())


def test_create_answers_201_with_a_summary_and_records_the_first_event(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    response = client.post("/v1/referrals", json=referral_body(), headers=agencies[LAPAS])
    assert response.status_code == 201
    created = response.json()
    assert response.headers["location"] == f"/v1/referrals/{created['id']}"
    assert created["status"] == "requested"
    assert (created["from_agency"], created["to_agency"]) == (LAPAS, BAPAS)
    assert created["subject_id"].startswith("sub_")
    assert "Budi" not in response.text
    assert "3175010101900001" not in response.text
    [event] = _events(ctx, created["id"])
    assert (event.seq, event.event_type, event.actor_agency, event.published_at) == (1, "ReferralCreated", LAPAS, None)
    record = ctx.codec.decode(event.payload).record
    assert record["prev_hash"] is None
    assert record["subject_age_band"] == "age_25_44"


def test_parties_read_the_subject_decrypted(client: TestClient, agencies: Agencies) -> None:
    created = _create(client, agencies)
    for code in (LAPAS, BAPAS):
        view = client.get(f"/v1/referrals/{created['id']}", headers=agencies[code]).json()
        assert view["subject"]["full_name"] == "Budi Santoso Fiktif"
        assert view["subject"]["nik"] == "3175010101900001"
        assert view["reason"] == "Bebas bersyarat bulan depan"
        assert view["subject"]["erased"] is False
    assert client.get(f"/v1/referrals/{created['id']}", headers=agencies[BAPAS]).json()["allowed_actions"] == [
        "acknowledge",
        "accept",
        "reject",
        "forward",
        "note",
    ]


def test_the_same_nik_keeps_the_same_subject_id(client: TestClient, agencies: Agencies) -> None:
    first = _create(client, agencies)
    second = _create(client, agencies, service_type="employment", to_agency=SENTRA)
    other = _create(client, agencies, subject={**SUBJECT, "nik": "3175010101900002"})
    assert first["subject_id"] == second["subject_id"] != other["subject_id"]


def test_an_idempotent_retry_returns_the_first_answer_and_creates_nothing(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    headers = {**agencies[LAPAS], "Idempotency-Key": "req-123"}
    first = client.post("/v1/referrals", json=referral_body(), headers=headers)
    retry = client.post("/v1/referrals", json=referral_body(), headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    with ctx.read() as session:
        assert len(session.exec(select(Referral)).all()) == 1
    changed = client.post("/v1/referrals", json=referral_body(urgency="routine"), headers=headers)
    assert changed.status_code == 422
    assert changed.json()["title"] == "Idempotency key reused"


def test_an_action_retried_with_its_idempotency_key_is_taken_once(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    """The answer to a note was lost; the caller retries with the same key: one note, not two. A note is
    the action a retry would otherwise repeat without any error."""
    referral_id = _create(client, agencies)["id"]
    headers = {**agencies[BAPAS], "Idempotency-Key": "note-7"}
    url = f"/v1/referrals/{referral_id}/note"
    first = client.post(url, json={"note": "Klien datang"}, headers=headers)
    retry = client.post(url, json={"note": "Klien datang"}, headers=headers)
    assert (first.status_code, retry.status_code) == (200, 200), retry.text
    assert "idempotent-replayed" not in first.headers
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["history"] == first.json()["history"]
    assert [e.event_type for e in _events(ctx, referral_id)] == ["ReferralCreated", "ReferralNoteAdded"]
    other = client.post(url, json={"note": "Klien tidak datang"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["title"] == "Idempotency key reused"
    elsewhere = client.post(f"/v1/referrals/{referral_id}/accept", headers=headers)
    assert elsewhere.status_code == 422  # the key names one request, not one per action
    accepted = _act(client, agencies, BAPAS, referral_id, "accept")
    assert accepted.status_code == 200
    again = client.post(f"/v1/referrals/{referral_id}/accept", headers={**agencies[BAPAS], "Idempotency-Key": "acc-1"})
    assert again.status_code == 409  # without a record of the first accept, a second is refused as illegal


def test_twins_with_one_idempotency_key_at_the_same_moment_take_the_action_once(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    referral_id = _create(client, agencies)["id"]
    headers = {**agencies[BAPAS], "Idempotency-Key": "twin-1"}
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(
            pool.map(
                lambda _: client.post(f"/v1/referrals/{referral_id}/note", json={"note": "x"}, headers=headers),
                range(6),
            )
        )
    assert [a.status_code for a in answers] == [200] * 6
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 5
    assert [e.event_type for e in _events(ctx, referral_id)] == ["ReferralCreated", "ReferralNoteAdded"]


def test_a_full_journey_chains_the_events(client: TestClient, agencies: Agencies, ctx: ReferralContext) -> None:
    referral_id = _create(client, agencies)["id"]
    for action, body in [
        ("acknowledge", {}),
        ("accept", {}),
        ("start", {"note": "Mulai pembimbingan"}),
        ("hold", {"reason_code": "missing_documents"}),
        ("start", {}),
        ("complete", {"outcome": "goals_met"}),
    ]:
        response = _act(client, agencies, BAPAS, referral_id, action, **body)
        assert response.status_code == 200, response.text
    view = response.json()
    assert view["status"] == "completed"
    assert [h["event_type"] for h in view["history"]] == [
        "ReferralCreated",
        "ReferralAcknowledged",
        "ReferralAccepted",
        "ReferralStarted",
        "ReferralPutOnHold",
        "ReferralStarted",
        "ReferralCompleted",
    ]
    assert view["history"][3]["note"] == "Mulai pembimbingan"
    assert view["history"][4]["reason_code"] == "missing_documents"
    events = _events(ctx, referral_id)
    assert [e.seq for e in events] == list(range(1, 8))
    from rujukan.core.codec import event_hash

    for previous, current in itertools.pairwise(events):
        assert ctx.codec.decode(current.payload).record["prev_hash"] == event_hash(previous.payload)


def test_an_illegal_action_answers_409_with_the_allowed_actions(client: TestClient, agencies: Agencies) -> None:
    referral_id = _create(client, agencies)["id"]
    response = _act(client, agencies, BAPAS, referral_id, "complete", outcome="goals_met")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["current_status"] == "requested"
    assert problem["allowed_actions"] == ["acknowledge", "accept", "reject", "forward", "note"]
    requester = _act(client, agencies, LAPAS, referral_id, "accept")
    assert requester.status_code == 409
    assert requester.json()["allowed_actions"] == ["cancel", "note"]


@pytest.mark.parametrize(
    ("action", "body", "message"),
    [
        ("reject", {}, "reject requires reason_code"),
        ("accept", {"outcome": "goals_met"}, "accept does not take outcome"),
        ("forward", {"reason_code": "other"}, "forward requires to_agency"),
    ],
)
def test_action_fields_are_checked(
    client: TestClient, agencies: Agencies, action: str, body: dict[str, Any], message: str
) -> None:
    referral_id = _create(client, agencies)["id"]
    response = _act(client, agencies, BAPAS, referral_id, action, **body)
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_forward_creates_a_child_referral_in_the_same_case(client: TestClient, agencies: Agencies) -> None:
    parent = _create(client, agencies)
    response = _act(
        client, agencies, BAPAS, parent["id"], "forward", to_agency=SENTRA, reason_code="referred_elsewhere"
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "forwarded"
    child_id = response.json()["history"][-1]["child_referral_id"]
    child = client.get(f"/v1/referrals/{child_id}", headers=agencies[SENTRA]).json()
    assert (child["from_agency"], child["to_agency"], child["status"]) == (BAPAS, SENTRA, "requested")
    assert child["case_id"] == parent["case_id"]
    assert child["parent_referral_id"] == parent["id"]
    assert child["subject"]["full_name"] == "Budi Santoso Fiktif"
    assert client.get(f"/v1/referrals/{child_id}", headers=agencies[LAPAS]).status_code == 404


def test_a_service_the_receiver_does_not_offer_is_refused(client: TestClient, agencies: Agencies) -> None:
    response = client.post("/v1/referrals", json=referral_body(to_agency="RSUD-KRAMATJATI"), headers=agencies[LAPAS])
    assert response.status_code == 422
    assert response.json()["detail"] == "agency RSUD-KRAMATJATI does not offer supervision"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"legal_basis": "consent"}, "consent is required when legal_basis is consent"),
        (
            {
                "legal_basis": "consent",
                "consent": {"given_by": "subject", "recorded_at": "2026-01-01T00:00:00Z"},
                "subject": {**SUBJECT, "birth_date": "2015-01-01"},
            },
            "consent for a child must be given by a guardian",
        ),
        ({"to_agency": "NOPE-AGENCY"}, "unknown agency NOPE-AGENCY"),
        ({"to_agency": "LAPAS-CIPINANG"}, "an agency cannot refer to itself"),
    ],
)
def test_domain_rules_answer_422(client: TestClient, agencies: Agencies, changes: dict[str, Any], message: str) -> None:
    response = client.post("/v1/referrals", json=referral_body(**changes), headers=agencies[LAPAS])
    assert response.status_code == 422
    assert response.json()["detail"] == message


def test_schema_errors_name_the_field_but_never_echo_the_value(client: TestClient, agencies: Agencies) -> None:
    body = referral_body(
        subject={**SUBJECT, "nik": "31750101019000XX"},
        surprise="Siti Rahayu Fiktif",
    )
    response = client.post("/v1/referrals", json=body, headers=agencies[LAPAS])
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    locations = {error["location"] for error in response.json()["errors"]}
    assert {"body.subject.nik", "body.surprise"} <= locations
    assert "31750101019000XX" not in response.text
    assert "Siti" not in response.text


def test_erasure_shreds_the_subject_and_is_recorded(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    created = _create(client, agencies)
    _act(client, agencies, BAPAS, created["id"], "note", note="Catatan rahasia")
    response = client.post(f"/v1/subjects/{created['subject_id']}/erase", headers=agencies[LAPAS])
    assert response.status_code == 200, response.text
    assert response.json()["referrals"] == 1
    view = client.get(f"/v1/referrals/{created['id']}", headers=agencies[BAPAS]).json()
    assert view["subject"]["erased"] is True
    assert view["subject"]["full_name"] is None
    assert view["reason"] is None
    assert all(entry["note"] is None for entry in view["history"])
    assert [e.event_type for e in _events(ctx, created["id"])][-1] == "SubjectErased"
    again = client.post(f"/v1/subjects/{created['subject_id']}/erase", headers=agencies[LAPAS])
    assert again.status_code == 200
    assert len(_events(ctx, created["id"])) == 3  # no second SubjectErased
    note = _act(client, agencies, BAPAS, created["id"], "note", note="x")
    assert note.status_code == 409
    fresh = _create(client, agencies)  # the same NIK after erasure is a new pseudonym
    assert fresh["subject_id"] != created["subject_id"]


def test_a_legal_hold_blocks_erasure(client: TestClient, agencies: Agencies, ctx: ReferralContext) -> None:
    created = _create(client, agencies)
    with ctx.read() as session:
        internal = session.exec(select(Referral.subject_id).where(Referral.id == created["id"])).one()
    set_legal_hold(ctx, subject_id=internal, active=True)  # operators name the internal id (as the tracker shows)
    response = client.post(f"/v1/subjects/{created['subject_id']}/erase", headers=agencies[LAPAS])
    assert response.status_code == 409
    assert "legal hold" in response.json()["detail"]
    set_legal_hold(ctx, subject_id=internal, active=False)
    assert client.post(f"/v1/subjects/{created['subject_id']}/erase", headers=agencies[LAPAS]).status_code == 200


def test_lists_are_paginated_newest_first_and_filtered(client: TestClient, agencies: Agencies) -> None:
    ids = [_create(client, agencies)["id"] for _ in range(5)]
    _act(client, agencies, BAPAS, ids[0], "accept")
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"direction": "incoming", "page_size": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/referrals", params=params, headers=agencies[BAPAS]).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)
    assert len(seen) == 5
    accepted = client.get(
        "/v1/referrals", params={"direction": "incoming", "status": "accepted"}, headers=agencies[BAPAS]
    ).json()["items"]
    assert [item["id"] for item in accepted] == [ids[0]]
    assert client.get("/v1/referrals", params={"direction": "incoming"}, headers=agencies[LAPAS]).json()["items"] == []
    larger = client.get("/v1/referrals", params={"direction": "incoming", "page_size": 500}, headers=agencies[BAPAS])
    assert larger.status_code == 200  # cut to the service's maximum (see the next test)
    beyond = client.get("/v1/referrals", params={"direction": "incoming", "page_size": 5000}, headers=agencies[BAPAS])
    assert beyond.status_code == 422


def test_a_page_larger_than_the_service_allows_is_cut_to_its_maximum(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    for _ in range(3):
        assert client.post("/v1/referrals", json=referral_body(), headers=agencies[LAPAS]).status_code == 201
    small = dataclasses.replace(ctx, max_page_size=2)
    page = list_referrals(small, agency=BAPAS, direction=Direction.INCOMING, page_size=1000)
    assert len(page.items) == 2
    assert page.next_cursor is not None


def test_revoked_credentials_stop_working(client: TestClient, agencies: Agencies, ctx: ReferralContext) -> None:
    assert client.get("/v1/referrals?direction=incoming", headers=agencies[BAPAS]).status_code == 200
    for credential in list_credentials(ctx, agency_code=BAPAS):
        revoke_credential(ctx, credential_id=credential.id)
    response = client.get("/v1/referrals?direction=incoming", headers=agencies[BAPAS])
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_oversized_bodies_answer_413(client: TestClient, agencies: Agencies) -> None:
    body = referral_body(reason="x" * 70_000)
    response = client.post("/v1/referrals", json=body, headers=agencies[LAPAS])
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_healthz_needs_no_credential(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_a_method_not_allowed_names_every_method_of_the_resource(client: TestClient) -> None:
    answer = client.request("OPTIONS", "/v1/referrals")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"  # the list and the create are one resource
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_credential_revoked_elsewhere_stops_working_within_a_second(ctx: ReferralContext) -> None:
    """Another process (another context on the same database) revokes: this one, which checked the
    credential a moment ago, accepts it from its cache for less than a second, never longer."""
    now = [100.0]
    here = dataclasses.replace(ctx, credentials=CredentialCache(clock=lambda: now[0]))
    elsewhere = dataclasses.replace(ctx, credentials=CredentialCache())
    issued = issue_credential(ctx, agency_code=BAPAS)
    assert authenticate(here, secret=issued.secret) == BAPAS
    revoke_credential(elsewhere, credential_id=issued.id)
    with pytest.raises(Unauthenticated):
        authenticate(elsewhere, secret=issued.secret)  # the revoking process at once
    now[0] += 0.9
    assert authenticate(here, secret=issued.secret) == BAPAS  # still within the cache's second
    now[0] += 0.1
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticate(here, secret=issued.secret)
