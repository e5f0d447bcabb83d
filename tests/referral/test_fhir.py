"""The FHIR R4 endpoint against the real app and database (SQLite and PostgreSQL): create by Bundle,
read and search, every status change, errors as OperationOutcomes, negotiation, paging, idempotency."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rujukan.referral.fhir import codes
from tests.referral.conftest import Agencies, referral_body
from tests.referral.fhir_bundles import referral_bundle, validated

pytestmark = pytest.mark.integration
LAPAS, RSUD, BAPAS = "LAPAS-CIPINANG", "RSUD-KRAMATJATI", "BAPAS-JAKTIM"
FHIR = "/fhir/r4"


def create(client: TestClient, agencies: Agencies, **changes: Any) -> dict[str, Any]:
    answer = client.post(FHIR, json=referral_bundle(requester=LAPAS, owner=RSUD, **changes), headers=agencies[LAPAS])
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/fhir+json"
    return validated(answer.json())


def resource_of(bundle: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind)


def test_metadata_is_an_r4_capability_statement(client: TestClient) -> None:
    answer = client.get(f"{FHIR}/metadata")
    assert answer.status_code == 200
    statement = validated(answer.json())
    assert statement["fhirVersion"] == "4.0.1"
    assert {r["type"] for r in statement["rest"][0]["resource"]} >= {"Task", "ServiceRequest", "Patient"}


def test_a_bundle_makes_one_referral_readable_in_both_apis(client: TestClient, agencies: Agencies) -> None:
    made = create(client, agencies)
    assert [e["response"]["status"] for e in made["entry"]] == ["201 Created"] * 3
    task, request, patient = (resource_of(made, k) for k in ("Task", "ServiceRequest", "Patient"))
    assert task["id"] == request["id"]
    assert task["status"] == "requested"
    assert task["owner"]["reference"] == f"Organization/{RSUD}"
    native = client.get(f"/v1/referrals/{task['id']}", headers=agencies[RSUD]).json()
    assert native["status"] == "requested"
    assert native["from_agency"] == LAPAS
    assert native["subject"]["nik"] == "3175010101900099"
    assert native["subject"]["ihs_number"] == "P02478375538"
    assert native["urgency"] == "urgent"
    assert native["service_type"] == "mental_health"
    assert native["consent"]["given_by"] == "subject"
    assert native["legal_basis"] == "consent"
    assert native["subject"]["address"] == "Jl. Contoh No. 1, Jakarta Timur"
    # the receiver reads the same referral with its own name for the person
    seen = validated(client.get(f"{FHIR}/Patient/{native['subject_id']}", headers=agencies[RSUD]).json())
    assert seen["id"] == native["subject_id"].replace("sub_", "sub-") != patient["id"]
    assert {i["system"]: i["value"] for i in seen["identifier"]} == {
        codes.NIK_SYSTEM: "3175010101900099",
        codes.IHS_SYSTEM: "P02478375538",
    }
    read = validated(client.get(f"{FHIR}/ServiceRequest/{task['id']}", headers=agencies[RSUD]).json())
    assert read["reasonCode"][0]["text"].startswith("Konseling trauma")


def test_a_native_referral_is_readable_as_fhir(client: TestClient, agencies: Agencies) -> None:
    created = client.post("/v1/referrals", json=referral_body(), headers=agencies[LAPAS]).json()
    task = validated(client.get(f"{FHIR}/Task/{created['id']}", headers=agencies[BAPAS]).json())
    assert task["status"] == "requested"
    assert task["focus"]["reference"] == f"ServiceRequest/{created['id']}"
    request = validated(client.get(f"{FHIR}/ServiceRequest/{created['id']}", headers=agencies[BAPAS]).json())
    assert request["category"][0]["coding"][0]["code"] == "supervision"
    patient = validated(client.get(f"{FHIR}/Patient/{created['subject_id']}", headers=agencies[LAPAS]).json())
    assert patient["name"][0]["text"] == "Budi Santoso Fiktif"


def as_receiver(client: TestClient, agencies: Agencies, made: dict[str, Any]) -> dict[str, Any]:
    """The new referral's Task as the receiver reads it (its Patient reference is the receiver's own)."""
    answer = client.get(f"{FHIR}/Task/{resource_of(made, 'Task')['id']}", headers=agencies[RSUD])
    assert answer.status_code == 200
    assert answer.headers["ETag"] == 'W/"1"'
    return validated(answer.json())


def test_the_receiver_walks_the_lifecycle_by_put_and_patch(client: TestClient, agencies: Agencies) -> None:
    task = as_receiver(client, agencies, create(client, agencies))
    url = f"{FHIR}/Task/{task['id']}"
    task = _put(client, url, {**task, "status": "accepted"}, agencies[RSUD])
    assert task["status"] == "accepted"
    by_business_status = [
        {"op": "replace", "path": "/businessStatus", "value": codes.coding("rujukan-status", "in_progress")}
    ]
    started = client.patch(url, json=by_business_status, headers=agencies[RSUD])
    assert started.status_code == 200, started.text
    task = validated(started.json())
    note = {"text": "Sesi pertama terjadwal"}
    task = _put(client, url, {**task, "note": [*task.get("note", []), note]}, agencies[RSUD])
    assert task["status"] == "in-progress"
    assert task["note"][-1]["text"] == "Sesi pertama terjadwal"
    outcome = {
        "type": codes.coding("rujukan-output-type", "outcome"),
        "valueCodeableConcept": codes.coding("rujukan-outcome", "goals_met"),
    }
    patched = client.patch(
        url,
        content=json.dumps(
            [
                {"op": "replace", "path": "/status", "value": "completed"},
                {"op": "add", "path": "/output", "value": [outcome]},
            ]
        ),
        headers={**agencies[RSUD], "Content-Type": "application/json-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    done = validated(patched.json())
    assert done["status"] == "completed"
    assert done["output"][0]["valueCodeableConcept"]["coding"][0]["code"] == "goals_met"
    assert "start" in done["executionPeriod"]
    assert "end" in done["executionPeriod"]
    # the referrer sees the same, natively and in FHIR
    assert client.get(f"/v1/referrals/{task['id']}", headers=agencies[LAPAS]).json()["status"] == "completed"
    assert client.get(url, headers=agencies[LAPAS]).json()["status"] == "completed"


def _put(client: TestClient, url: str, task: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    answer = client.put(url, json=task, headers=headers)
    assert answer.status_code == 200, answer.text
    return validated(answer.json())


def test_reject_needs_a_reason_and_a_wrong_move_says_what_is_allowed(client: TestClient, agencies: Agencies) -> None:
    task = as_receiver(client, agencies, create(client, agencies))
    url = f"{FHIR}/Task/{task['id']}"
    unreasoned = client.put(url, json={**task, "status": "rejected"}, headers=agencies[RSUD])
    assert unreasoned.status_code == 422
    assert validated(unreasoned.json())["issue"][0]["diagnostics"].startswith("Task.statusReason")
    early = client.put(url, json={**task, "status": "completed"}, headers=agencies[RSUD])
    assert early.status_code == 422  # no outcome given
    not_now = client.put(
        url,
        json={**task, "status": "on-hold", "statusReason": codes.coding("rujukan-reason", "other")},
        headers=agencies[RSUD],
    )
    assert not_now.status_code == 409
    issue = validated(not_now.json())["issue"][0]
    assert issue["code"] == "conflict"
    assert "allowed: acknowledge, accept, reject, forward, note" in issue["diagnostics"]
    reason = codes.coding("rujukan-reason", "capacity_full")
    rejected = _put(client, url, {**task, "status": "rejected", "statusReason": reason}, agencies[RSUD])
    assert rejected["status"] == "rejected"
    assert rejected["statusReason"]["coding"][0]["code"] == "capacity_full"


def test_a_new_owner_forwards_and_the_output_names_the_next_task(client: TestClient, agencies: Agencies) -> None:
    task = as_receiver(client, agencies, create(client, agencies))
    url = f"{FHIR}/Task/{task['id']}"
    forwarded = _put(
        client,
        url,
        {
            **task,
            "owner": {"reference": f"Organization/{BAPAS}"},
            "statusReason": codes.coding("rujukan-reason", "referred_elsewhere"),
        },
        agencies[RSUD],
    )
    assert forwarded["status"] == "cancelled"
    assert forwarded["businessStatus"]["coding"][0]["code"] == "forwarded"
    child = forwarded["output"][0]["valueReference"]["reference"]
    assert validated(client.get(f"{FHIR}/{child}", headers=agencies[BAPAS]).json())["status"] == "requested"


def test_an_update_on_an_old_version_is_refused_and_a_retry_changes_nothing(
    client: TestClient, agencies: Agencies
) -> None:
    task = as_receiver(client, agencies, create(client, agencies))
    url = f"{FHIR}/Task/{task['id']}"
    accepted = client.put(url, json={**task, "status": "accepted"}, headers={**agencies[RSUD], "If-Match": 'W/"1"'})
    assert accepted.status_code == 200, accepted.text
    assert accepted.headers["ETag"] == 'W/"2"'
    stale = client.put(url, json={**task, "status": "received"}, headers={**agencies[RSUD], "If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert validated(stale.json())["issue"][0]["code"] == "conflict"
    again = client.put(url, json={**task, "status": "accepted"}, headers=agencies[RSUD])  # a retry of the first
    assert again.status_code == 200
    assert again.headers["ETag"] == 'W/"2"'  # no second event
    keyed = {**agencies[RSUD], "If-Match": 'W/"2"', "Idempotency-Key": "rsud-start-1"}
    started = client.put(url, json={**again.json(), "status": "in-progress"}, headers=keyed)
    assert started.status_code == 200, started.text
    replayed = client.put(url, json={**again.json(), "status": "in-progress"}, headers=keyed)  # its answer was lost
    assert replayed.status_code == 200, replayed.text
    assert replayed.headers["ETag"] == 'W/"3"'  # answered as done, nothing taken again
    hold = {**replayed.json(), "status": "on-hold", "statusReason": codes.coding("rujukan-reason", "other")}
    any_version = client.put(url, json=hold, headers={**agencies[RSUD], "If-Match": "*"})
    assert any_version.status_code == 200, any_version.text
    history = client.get(f"/v1/referrals/{task['id']}", headers=agencies[RSUD]).json()["history"]
    assert [h["event_type"] for h in history] == [
        "ReferralCreated",
        "ReferralAccepted",
        "ReferralStarted",
        "ReferralPutOnHold",
    ]


def test_notes_are_checked_and_a_stale_list_is_refused(client: TestClient, agencies: Agencies) -> None:
    task = as_receiver(client, agencies, create(client, agencies))
    url = f"{FHIR}/Task/{task['id']}"
    too_long = client.put(url, json={**task, "note": [{"text": "x" * 4001}]}, headers=agencies[RSUD])
    assert too_long.status_code == 422, too_long.text
    blank = client.patch(url, json=[{"op": "add", "path": "/note/-", "value": {"text": "  "}}], headers=agencies[RSUD])
    assert blank.status_code == 422, blank.text
    _put(client, url, {**task, "note": [{"text": "dari RSUD"}]}, agencies[RSUD])
    lapas_task = validated(client.get(url, headers=agencies[LAPAS]).json())
    stale = {**lapas_task, "note": [{"text": "dari Lapas"}, {"text": "lagi"}]}  # RSUD's note is not in it
    assert client.put(url, json=stale, headers=agencies[LAPAS]).status_code == 409
    same_owner = {**task, "owner": {"reference": f"Organization/{RSUD}"}}  # without "type": the same owner
    assert _put(client, url, same_owner, agencies[RSUD])["status"] == "requested"


def test_the_requester_cancels(client: TestClient, agencies: Agencies) -> None:
    task = resource_of(create(client, agencies), "Task")
    patch = [
        {"op": "replace", "path": "/status", "value": "cancelled"},
        {"op": "add", "path": "/statusReason", "value": codes.coding("rujukan-reason", "duplicate")},
    ]
    answer = client.patch(f"{FHIR}/Task/{task['id']}", json=patch, headers=agencies[LAPAS])
    assert answer.status_code == 200
    assert answer.json()["status"] == "cancelled"
    wrong = client.patch(
        f"{FHIR}/Task/{task['id']}", json=[{"op": "replace", "path": "/for", "value": {}}], headers=agencies[LAPAS]
    )
    assert wrong.status_code == 422
    assert "only /status" in wrong.json()["issue"][0]["diagnostics"]


def test_search_pages_through_the_callers_tasks(client: TestClient, agencies: Agencies) -> None:
    ids = [resource_of(create(client, agencies, nik=f"31750101019001{n:02d}"), "Task")["id"] for n in range(5)]
    other = client.post("/v1/referrals", json=referral_body(), headers=agencies[LAPAS]).json()["id"]  # to Bapas
    seen: list[str] = []
    url: str | None = f"{FHIR}/Task?owner=Organization/{RSUD}&status=requested&_count=2"
    pages = 0
    while url is not None and pages < 10:
        page = validated(client.get(url, headers=agencies[RSUD]).json())
        seen += [e["resource"]["id"] for e in page["entry"]]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        pages += 1
    assert seen == ids[::-1]
    assert pages == 3
    assert other not in seen
    mine = client.get(f"{FHIR}/Task", params={"requester": f"Organization/{LAPAS}"}, headers=agencies[LAPAS]).json()
    assert {e["resource"]["id"] for e in mine["entry"]} == {*ids, other}
    stranger = client.get(
        f"{FHIR}/Task", params={"requester": f"Organization/{LAPAS}"}, headers=agencies["KEMENSOS-HANDAYANI"]
    )
    assert stranger.json()["entry"] == []
    day = validated(client.get(f"{FHIR}/Task/{ids[0]}", headers=agencies[RSUD]).json())["meta"]["lastUpdated"][:10]
    for bound, found in (
        ("gt2099-01-01", 0),
        ("lt2099-01-01", 5),
        ("ge2000-01-01T00:00:00Z", 5),
        (day, 5),
        ("lt" + day, 0),
    ):
        bounded = client.get(f"{FHIR}/Task", params={"_lastUpdated": bound}, headers=agencies[RSUD])
        assert len(bounded.json()["entry"]) == found, bound
    assert client.get(f"{FHIR}/Task", params={"_count": 0}, headers=agencies[RSUD]).json()["entry"] == []
    naive_cursor = base64.urlsafe_b64encode(b"2026-12-01T00:00:00|x").decode()
    for params in (
        {"owner": "Organization/A\x00B"},
        {"_cursor": "bm90IGEgY3Vyc29y"},
        {"_cursor": naive_cursor},
        {"_lastUpdated": "ge2026-13-01"},
        {"_lastUpdated": "9999-12-31"},
        {"_lastUpdated": "0001-01-01T00:00:00+01:00"},
    ):
        refused = client.get(f"{FHIR}/Task", params=params, headers=agencies[RSUD])
        assert refused.status_code == 422, (params, refused.text)
        assert validated(refused.json())["resourceType"] == "OperationOutcome"
    ignored = validated(client.get(f"{FHIR}/Task", params={"subject": "x"}, headers=agencies[RSUD]).json())
    assert len([e for e in ignored["entry"] if e["search"]["mode"] == "match"]) == 5  # FHIR's default: ignored
    warning = next(e["resource"] for e in ignored["entry"] if e["search"]["mode"] == "outcome")
    assert warning["issue"][0]["diagnostics"] == "search parameters ignored: subject"
    strict = {**agencies[RSUD], "Prefer": "handling=strict"}
    refused = client.get(f"{FHIR}/Task", params={"subject": "x", "Siti Aminah": "1"}, headers=strict)
    assert refused.status_code == 422
    assert refused.json()["issue"][0]["diagnostics"] == "search parameters not supported: subject, 1 more"


def test_idempotent_creates_by_key_and_by_if_none_exist(client: TestClient, agencies: Agencies) -> None:
    bundle = referral_bundle(requester=LAPAS, owner=RSUD)
    bundle["entry"][2]["request"]["ifNoneExist"] = "identifier=https://rs.example/task|T-1"
    first = client.post(FHIR, json=bundle, headers=agencies[LAPAS])
    again = client.post(FHIR, json=bundle, headers=agencies[LAPAS])
    assert first.status_code == again.status_code == 200
    assert resource_of(first.json(), "Task")["id"] == resource_of(again.json(), "Task")["id"]
    assert [e["response"]["status"] for e in again.json()["entry"]] == ["200 OK"] * 3
    keyed = {**agencies[LAPAS], "Idempotency-Key": "fhir-key-1"}
    one = client.post(FHIR, json=referral_bundle(requester=LAPAS, owner=RSUD, nik="3175010101900055"), headers=keyed)
    two = client.post(FHIR, json=referral_bundle(requester=LAPAS, owner=RSUD, nik="3175010101900055"), headers=keyed)
    assert resource_of(one.json(), "Task")["id"] == resource_of(two.json(), "Task")["id"]
    changed = client.post(
        FHIR, json=referral_bundle(requester=LAPAS, owner=RSUD, nik="3175010101900056"), headers=keyed
    )
    assert changed.status_code == 422
    assert validated(changed.json())["resourceType"] == "OperationOutcome"


def test_only_json_is_spoken(client: TestClient, agencies: Agencies) -> None:
    for params, headers in (({"_format": "xml"}, {}), ({}, {"Accept": "application/fhir+xml"})):
        answer = client.get(f"{FHIR}/metadata", params=params, headers=headers)
        assert answer.status_code == 406
        assert validated(answer.json())["issue"][0]["code"] == "not-supported"
    assert client.get(f"{FHIR}/metadata", params={"_format": "json"}).status_code == 200
    xml = client.post(FHIR, content="<Bundle/>", headers={**agencies[LAPAS], "Content-Type": "application/fhir+xml"})
    assert xml.status_code == 415
    assert xml.headers["content-type"] == "application/fhir+json"


def test_errors_are_operation_outcomes_without_personal_data(client: TestClient, agencies: Agencies) -> None:
    bundle = referral_bundle(requester=LAPAS, owner=RSUD, nik="12345")
    answer = client.post(FHIR, json=bundle, headers=agencies[LAPAS])
    assert answer.status_code == 422
    outcome = validated(answer.json())
    assert "Patient.identifier" in outcome["issue"][0]["diagnostics"]
    assert "12345" not in answer.text
    as_other = client.post(FHIR, json=referral_bundle(requester=BAPAS, owner=RSUD), headers=agencies[LAPAS])
    assert as_other.status_code == 422
    assert "Task.requester" in as_other.text
    unauthenticated = client.get(f"{FHIR}/Task/00000000-0000-0000-0000-000000000000")
    assert unauthenticated.status_code == 401
    assert validated(unauthenticated.json())["issue"][0]["code"] == "login"
    missing = client.get(f"{FHIR}/Task/00000000-0000-0000-0000-000000000000", headers=agencies[LAPAS])
    assert missing.status_code == 404
    assert validated(missing.json())["issue"][0]["code"] == "not-found"
    garbage = client.post(
        FHIR, json={"resourceType": "Bundle", "type": "transaction", "entry": 7}, headers=agencies[LAPAS]
    )
    assert garbage.status_code == 422
    mistyped = referral_bundle(requester=LAPAS, owner=RSUD)
    mistyped["entry"][0]["resource"]["birthDate"] = "Siti Aminah Fiktif"
    mistyped["entry"][0]["resource"]["telecom"] = [{"system": "phone", "value": "Siti Aminah Fiktif"}]
    refused = client.post(FHIR, json=mistyped, headers=agencies[LAPAS])
    assert refused.status_code == 422
    assert "Patient.birthDate" in refused.text
    assert "Patient.telecom" in refused.text
    assert "Siti" not in refused.text
    mistyped["entry"][0]["resource"]["birthDate"] = "1994-05-17"
    mistyped["entry"][0]["resource"].pop("telecom")
    mistyped["entry"][0]["resource"]["gender"] = "Siti"
    assert client.post(FHIR, json=mistyped, headers=agencies[LAPAS]).status_code == 422


def test_outsiders_get_the_404_of_a_missing_id(client: TestClient, agencies: Agencies) -> None:
    made = create(client, agencies)
    task_id, patient_id = resource_of(made, "Task")["id"], resource_of(made, "Patient")["id"]
    stranger = agencies["KEMENSOS-HANDAYANI"]
    for kind, real, fake in (
        ("Task", task_id, "00000000-0000-0000-0000-000000000000"),
        ("ServiceRequest", task_id, "00000000-0000-0000-0000-000000000000"),
        ("Patient", patient_id, "sub-" + "0" * 20),
    ):
        seen, missing = (
            client.get(f"{FHIR}/{kind}/{real}", headers=stranger),
            client.get(f"{FHIR}/{kind}/{fake}", headers=stranger),
        )
        assert seen.status_code == missing.status_code == 404
        assert seen.content == missing.content
    put = client.put(f"{FHIR}/Task/{task_id}", json={"resourceType": "Task", "status": "accepted"}, headers=stranger)
    assert put.status_code == 404


def test_code_systems_are_published(client: TestClient, agencies: Agencies) -> None:
    listed = validated(client.get(f"{FHIR}/CodeSystem", headers=agencies[LAPAS]).json())
    urls = {e["resource"]["url"] for e in listed["entry"]}
    assert codes.REASON_SYSTEM in urls
    assert codes.OUTCOME_SYSTEM in urls
    reasons = validated(client.get(f"{FHIR}/CodeSystem/rujukan-reason", headers=agencies[LAPAS]).json())
    assert "capacity_full" in {c["code"] for c in reasons["concept"]}
    organization = validated(client.get(f"{FHIR}/Organization/{RSUD}", headers=agencies[LAPAS]).json())
    assert organization["name"] == "RSUD Kramat Jati"


def test_a_planned_referral_is_a_draft_task_and_sending_it_is_requested(client: TestClient, agencies: Agencies) -> None:
    planned_for = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    created = client.post("/v1/referrals", json=referral_body(planned_for=planned_for), headers=agencies[LAPAS])
    assert created.status_code == 201, created.text
    url = f"{FHIR}/Task/{created.json()['id']}"
    task = validated(client.get(url, headers=agencies[LAPAS]).json())
    assert task["status"] == "draft"
    assert task["extension"][0]["url"] == codes.PLANNED_FOR
    assert (
        validated(client.get(url.replace("Task", "ServiceRequest"), headers=agencies[BAPAS]).json())["status"]
        == "draft"
    )
    sent = _put(client, url, {**task, "status": "requested"}, agencies[LAPAS])
    assert sent["status"] == "requested"
    assert "extension" not in sent or sent["extension"][0]["url"] != codes.PLANNED_FOR


def test_an_erased_subject_reads_as_a_patient_without_identity(client: TestClient, agencies: Agencies) -> None:
    made = create(client, agencies)
    patient_id = resource_of(made, "Patient")["id"]
    native_alias = patient_id.replace("sub-", "sub_")
    erased = client.post(f"/v1/subjects/{native_alias}/erase", headers=agencies[LAPAS])
    assert erased.status_code == 200, erased.text
    patient = validated(client.get(f"{FHIR}/Patient/{patient_id}", headers=agencies[LAPAS]).json())
    assert patient["meta"]["tag"][0]["code"] == "erased"
    assert not {"identifier", "name", "telecom", "birthDate", "address"} & set(patient)
    task = validated(client.get(f"{FHIR}/Task/{resource_of(made, 'Task')['id']}", headers=agencies[RSUD]).json())
    request = validated(client.get(f"{FHIR}/ServiceRequest/{task['id']}", headers=agencies[RSUD]).json())
    assert "reasonCode" not in request  # the reason was sealed with the subject's key
