"""The authorisation matrix, generated from the OpenAPI: every route that takes an id, called by every
kind of caller. A route added later with an id this file does not know fails the test until it is
placed in the matrix.

The directory's routes with a ``{service_type}`` write the caller's own entry (``OWN_ENTRY_ROUTES``):
no other agency's data is reached through them, so they are not in the outsider matrix; they refuse
callers without a valid credential like the rest, and one agency's writes leave another's entry as it was
(``test_directory_writes_reach_the_callers_own_entry_only``).

Referral service: an agency that is not a party gets exactly the answer an id that does not exist gets
(status and body), and changes nothing; no credential, a malformed, a revoked or another service's
credential gets 401. Tracker: only coordinator and auditor credentials read; agency credentials get 401.
Notifier: another agency's delivery answers exactly as a delivery id that does not exist (status, and
the body but for the id it echoes), and its redelivery changes nothing; the routes without an id act on
the caller's own subscription and log only, so nothing another agency does there shows or changes the
victim's; no credential, a malformed, a revoked or another service's credential gets 401. (The notifier
asks the referral service whose a credential is; a revocation reaches it within ``auth.CACHE_S`` seconds,
immediately for a credential it has not seen, as here.)
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rujukan.cli.demo import AGENCIES
from rujukan.core.lifecycle import RULES, Action
from rujukan.referral.pathways import bundled_templates, load_templates, templates_from_files
from tests.security.conftest import (
    REQUESTER,
    RESPONDER,
    NotifierApi,
    ReferralApi,
    TrackerApi,
    agency_strangers,
)

pytestmark = pytest.mark.integration
PARAMETER = re.compile(r"\{(\w+)\}")
CAPACITY = {"available": 2, "maximum": 10, "unit": "places", "waitlist": "none"}
ENTRY = {"name": "Layanan uji", "description": "Uraian layanan uji", "regions": ["31"], "capacity": CAPACITY}
OWN_ENTRY_ROUTES = {"/v1/directory/services/{service_type}", "/v1/directory/services/{service_type}/capacity"}
# Routes with an id that is no one's: the pathway templates (read by any agency; a start creates the caller's
# own referrals, and continuing another agency's referral is refused below like a missing one).
# The FHIR CodeSystems and Organizations are the published vocabulary and the registry, the same to all.
SHARED_ROUTES = {
    "/v1/pathway-templates/{code}",
    "/v1/pathway-templates/{code}/start",
    "/fhir/r4/CodeSystem/{code_system_id}",
    "/fhir/r4/Organization/{code}",
}
FHIR_ROUTES = 5  # a Task read, update and patch, its ServiceRequest, the Patient
ROUTE_BODIES: dict[str, dict[str, Any]] = {
    "/v1/subjects/{subject_id}/correct": {"full_name": "Nama Koreksi"},
    "/v1/referrals/{referral_id}/follow-ups": {"checkpoint_months": 3, "outcome": "employed"},
    "/v1/directory/services/{service_type}": ENTRY,
    "/v1/directory/services/{service_type}/capacity": CAPACITY,
}
METHOD_BODIES: dict[tuple[str, str], Any] = {
    ("PUT", "/fhir/r4/Task/{referral_id}"): {"resourceType": "Task", "status": "accepted"},
    ("PATCH", "/fhir/r4/Task/{referral_id}"): [{"op": "replace", "path": "/status", "value": "accepted"}],
}
SUBJECT_WITH_NIK = {
    "full_name": "Rahasia Paralel",
    "nik": "3175014101900003",
    "birth_date": "1990-01-01",
    "sex": "male",
    "category": "inmate_pre_release",
    "region_code": "31.75",
}
SUBJECT_ROUTES = 6  # record, correct, withdraw-consent, restrict, lift-restriction, erase
BODIES: dict[str, dict[str, Any]] = {
    "reason_code": {"reason_code": "other"},
    "outcome": {"outcome": "goals_met"},
    "note": {"note": "Catatan uji"},
    "to_agency": {"to_agency": "KEMENSOS-REHSOS"},
}


def id_routes(client: TestClient, *, own_entries: bool = True) -> list[tuple[str, str]]:
    paths: dict[str, dict[str, Any]] = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return [
        (method.upper(), path)
        for path, methods in paths.items()
        if "{" in path and (own_entries or path not in OWN_ENTRY_ROUTES | SHARED_ROUTES)
        for method in methods
    ]


def requests_for(routes: list[tuple[str, str]], values: dict[str, list[str]]) -> Iterator[tuple[str, str, Any]]:
    """(method, url, json body) for every route and every value of its parameters."""
    for method, template in routes:
        names = PARAMETER.findall(template)
        unknown = [name for name in names if name not in values]
        assert not unknown, f"{method} {template}: put {unknown} in the authorisation matrix"
        combos: list[dict[str, str]] = [{}]
        for name in names:
            combos = [{**combo, name: value} for combo in combos for value in values[name]]
        for combo in combos:
            url = template.format(**combo)
            body: Any = METHOD_BODIES.get((method, template), ROUTE_BODIES.get(template))
            if "action" in combo:
                body = {}
                for field in RULES[Action(combo["action"])].requires:
                    body.update(BODIES[field])
            yield method, url, body


def call(client: TestClient, method: str, url: str, body: Any, headers: dict[str, str]) -> Any:
    return client.request(method, url, json=body, headers=headers)


def test_referral_routes_tell_outsiders_nothing_and_let_them_change_nothing(referral_api: ReferralApi) -> None:
    client, referral = referral_api.client, referral_api.referral
    routes = id_routes(client, own_entries=False)
    assert len(routes) == 3 + SUBJECT_ROUTES + FHIR_ROUTES, routes  # get, act, a follow-up, the subject's rights
    assert len(id_routes(client)) == len(routes) + len(OWN_ENTRY_ROUTES) + len(SHARED_ROUTES)
    real = {
        "referral_id": [referral["id"]],
        "subject_id": [referral["subject_id"]],
        "action": [a.value for a in Action],
    }
    ghost = {"referral_id": [str(uuid.uuid4())], "subject_id": ["sub_0123456789abcdef"], "action": real["action"]}
    before = client.get(f"/v1/referrals/{referral['id']}", headers=referral_api.auth(REQUESTER)).json()
    outsiders = [code for code in referral_api.secrets if code not in (REQUESTER, RESPONDER)]
    checked = 0
    for agency in outsiders:
        for (method, url, body), (_, ghost_url, _) in zip(
            requests_for(routes, real), requests_for(routes, ghost), strict=True
        ):
            seen = call(client, method, url, body, referral_api.auth(agency))
            unknown = call(client, method, ghost_url, body, referral_api.auth(agency))
            assert seen.status_code == 404, (agency, method, url, seen.status_code)
            assert seen.json() == unknown.json(), (agency, method, url)
            checked += 1
    assert checked == len(outsiders) * (2 + len(Action) + SUBJECT_ROUTES + FHIR_ROUTES)
    after = client.get(f"/v1/referrals/{referral['id']}", headers=referral_api.auth(REQUESTER)).json()
    assert after == before  # nothing changed: status, history, subject (not erased)
    for agency in outsiders:
        for direction in ("incoming", "outgoing"):
            listed = client.get("/v1/referrals", params={"direction": direction}, headers=referral_api.auth(agency))
            assert referral["id"] not in listed.text


def test_referral_routes_refuse_callers_without_a_valid_agency_credential(
    referral_api: ReferralApi, tracker_api: TrackerApi
) -> None:
    client, referral = referral_api.client, referral_api.referral
    callers = agency_strangers(referral_api, tracker_api)
    values = {
        "referral_id": [referral["id"]],
        "subject_id": [referral["subject_id"]],
        "action": ["accept", "note"],
        "service_type": ["supervision"],
        "code": ["conditional_release"],
        "code_system_id": ["rujukan-reason"],
    }
    for name, headers in callers.items():
        for method, url, body in requests_for(id_routes(client), values):
            answer = call(client, method, url, body, headers)
            assert answer.status_code == 401, (name, method, url, answer.status_code)
            assert referral["id"] not in answer.text


def test_no_outsider_can_continue_a_referral_by_starting_a_pathway(referral_api: ReferralApi) -> None:
    client, referral = referral_api.client, referral_api.referral
    load_templates(referral_api.ctx, templates_from_files(bundled_templates()))
    body = {
        "anchor_date": (dt.date.today() + dt.timedelta(days=60)).isoformat(),
        "agencies": {
            "supervision": "BAPAS-JAKTIM",
            "rehabilitation": "SENTRA-HANDAYANI",
            "employment": "YAYASAN-KARYA-MANDIRI",
        },
        "reason": "Rahasia pathway",
        "legal_basis": "legal_obligation",
        "subject": SUBJECT_WITH_NIK,
    }
    url = "/v1/pathway-templates/conditional_release/start"
    outsiders = [code for code in referral_api.secrets if code not in (REQUESTER, RESPONDER)]
    for agency in outsiders:
        headers = referral_api.auth(agency)
        seen = client.post(url, json={**body, "continues_referral_id": referral["id"]}, headers=headers)
        ghost = client.post(url, json={**body, "continues_referral_id": str(uuid.uuid4())}, headers=headers)
        assert seen.status_code == 404, (agency, seen.text)
        assert seen.json() == ghost.json(), agency
        listed = client.get("/v1/referrals", params={"direction": "outgoing"}, headers=headers)
        assert listed.json()["items"] == []  # nothing was created
    mine = client.post(
        url, json={**body, "continues_referral_id": referral["id"]}, headers=referral_api.auth(REQUESTER)
    )
    assert mine.status_code == 201, mine.text  # the party may: the pathway joins the referral's case
    assert {step["case_id"] for step in mine.json()["steps"]} == {referral["case_id"]}


def test_directory_writes_reach_the_callers_own_entry_only(referral_api: ReferralApi) -> None:
    client = referral_api.client
    mine = client.put("/v1/directory/services/supervision", json=ENTRY, headers=referral_api.auth(RESPONDER))
    assert mine.status_code == 200, mine.text
    before = client.get("/v1/directory/services", headers=referral_api.auth(REQUESTER)).json()
    outsiders = [code for code in referral_api.secrets if code not in (REQUESTER, RESPONDER)]
    for agency in outsiders[:3]:
        full = {**CAPACITY, "available": 0}
        answer = client.put("/v1/directory/services/supervision/capacity", json=full, headers=referral_api.auth(agency))
        assert answer.status_code in (200, 404), answer.text  # its own entry, or none to update
    after = client.get("/v1/directory/services", headers=referral_api.auth(REQUESTER)).json()
    ours = [item for item in after["items"] if item["agency"] == RESPONDER]
    assert ours == [item for item in before["items"] if item["agency"] == RESPONDER]
    assert ours[0]["capacity"]["available"] == CAPACITY["available"]


def test_the_parties_themselves_are_recognised(referral_api: ReferralApi) -> None:
    """The other side of the matrix: the same routes do answer the parties (so the 404s above are
    about who asks, not a broken route)."""
    client, referral = referral_api.client, referral_api.referral
    for agency in (REQUESTER, RESPONDER):
        assert client.get(f"/v1/referrals/{referral['id']}", headers=referral_api.auth(agency)).status_code == 200
    noted = client.post(
        f"/v1/referrals/{referral['id']}/note", json={"note": "Catatan"}, headers=referral_api.auth(RESPONDER)
    )
    assert noted.status_code == 200


def test_tracker_routes_answer_coordinators_and_auditors_only(
    tracker_api: TrackerApi, referral_api: ReferralApi
) -> None:
    client, journey = tracker_api.client, tracker_api.journey
    routes = id_routes(client)
    assert len(routes) == 3, routes  # one handoff, one case, one person's pathway
    subject = journey.events[0]["subject_id"]
    values = {"referral_id": [str(journey.referral_id)], "case_id": [str(journey.case_id)], "subject_id": [subject]}
    for role, secret in tracker_api.secrets.items():
        for method, url, body in requests_for(routes, values):
            assert call(client, method, url, body, {"Authorization": f"Bearer {secret}"}).status_code == 200, role
    strangers = {
        "none": {},
        "agency credential": referral_api.auth(REQUESTER),
        "malformed": {"Authorization": "Bearer rjk_" + "x" * 43},
    }
    for name, headers in strangers.items():
        for method, url, body in requests_for(routes, values):
            answer = call(client, method, url, body, headers)
            assert answer.status_code == 401, (name, url)
            assert str(journey.referral_id) not in answer.text


def _own(notifier_api: NotifierApi, referral_api: ReferralApi, agency: str) -> tuple[Any, Any]:
    """What ``agency`` itself sees of its subscription and delivery log."""
    headers = referral_api.auth(agency)
    subscription = notifier_api.client.get("/v1/subscription", headers=headers)
    log = notifier_api.client.get("/v1/deliveries", headers=headers)
    assert subscription.status_code == log.status_code == 200, agency
    return subscription.json(), log.json()


def _headers(answer: Any) -> dict[str, str]:
    return {name: value for name, value in answer.headers.items() if name != "content-length"}


def _echoing(text: str, delivery_id: str) -> str:
    """The answer with the id it names replaced, digits around it left alone ("404" stays "404")."""
    return re.sub(rf"(?<!\d){re.escape(delivery_id)}(?!\d)", "{delivery_id}", text)


def test_notifier_routes_tell_outsiders_nothing_and_let_them_change_nothing(
    notifier_api: NotifierApi, referral_api: ReferralApi
) -> None:
    client, victim = notifier_api.client, RESPONDER
    routes = id_routes(client)
    assert len(routes) == 1, routes  # redeliver
    real = {"delivery_id": [str(notifier_api.deliveries[victim])]}
    ghost = {"delivery_id": [str(max(notifier_api.deliveries.values()) + 1000)]}
    before = _own(notifier_api, referral_api, victim)
    outsiders = [code for code in referral_api.secrets if code != victim]  # the requester too: not its delivery
    checked = 0
    for agency in outsiders:
        for (method, url, body), (_, ghost_url, _) in zip(
            requests_for(routes, real), requests_for(routes, ghost), strict=True
        ):
            seen = call(client, method, url, body, referral_api.auth(agency))
            unknown = call(client, method, ghost_url, body, referral_api.auth(agency))
            assert seen.status_code == unknown.status_code == 404, (agency, method, url, seen.status_code)
            assert _headers(seen) == _headers(unknown), (agency, url)
            assert _echoing(seen.text, real["delivery_id"][0]) == _echoing(unknown.text, ghost["delivery_id"][0])
            checked += 1
        _act_on_own_things(notifier_api, referral_api, agency)
    assert checked == len(outsiders)
    assert _own(notifier_api, referral_api, victim) == before  # same URL, secrets, delivery status and attempts
    again = client.post(url, headers=referral_api.auth(victim))  # the other side: the owner is recognised
    assert again.status_code == 202, again.text


def _act_on_own_things(notifier_api: NotifierApi, referral_api: ReferralApi, agency: str) -> None:
    """The routes without an id, used by an outsider: they read and change the outsider's own only."""
    client, headers = notifier_api.client, referral_api.auth(agency)
    mine = client.get("/v1/subscription", headers=headers)
    if agency in notifier_api.deliveries:  # the requester has a subscription of its own
        assert mine.json()["owner"] == agency
    else:
        assert mine.status_code == 404, mine.text  # as for any agency without one
        assert client.post("/v1/subscription/rotate", headers=headers).status_code == 404
    log = client.get("/v1/deliveries", params={"referral_id": referral_api.referral["id"]}, headers=headers)
    assert {item["owner"] for item in log.json()["items"]} <= {agency}, log.text
    made = client.put("/v1/subscription", json={"url": f"http://127.0.0.1:9/{agency.lower()}"}, headers=headers)
    assert made.json()["subscription"]["owner"] == agency, made.text
    rotated = client.post("/v1/subscription/rotate", json={"overlap_hours": 0}, headers=headers)
    assert rotated.json()["subscription"]["owner"] == agency, rotated.text


def test_notifier_routes_refuse_callers_without_a_valid_agency_credential(
    notifier_api: NotifierApi, referral_api: ReferralApi, tracker_api: TrackerApi
) -> None:
    client, victim = notifier_api.client, RESPONDER
    before = _own(notifier_api, referral_api, victim)
    values = {"delivery_id": [str(notifier_api.deliveries[victim])]}
    for name, headers in agency_strangers(referral_api, tracker_api).items():
        for method, url, body in requests_for(id_routes(client), values):
            answer = call(client, method, url, body, headers)
            assert answer.status_code == 401, (name, method, url, answer.status_code)
            assert answer.headers["content-type"] == "application/problem+json"
            assert referral_api.referral["id"] not in answer.text
    assert _own(notifier_api, referral_api, victim) == before


def test_parallel_referrals_name_another_agency_only_to_a_party(referral_api: ReferralApi) -> None:
    """Every agency asks (a dry run of a create it could make) about a person with an active referral
    between two others: each learns the count by service type, none the agencies or the referral, while the
    parties see theirs."""
    client = referral_api.client
    person = {**SUBJECT_WITH_NIK}
    body = {
        "to_agency": RESPONDER,
        "service_type": "supervision",
        "urgency": "urgent",
        "reason": "Pembebasan bersyarat",
        "legal_basis": "legal_obligation",
        "subject": person,
    }
    created = client.post("/v1/referrals", json=body, headers=referral_api.auth(REQUESTER))
    assert created.status_code == 201, created.text
    referral_id = created.json()["id"]
    offering = {agency.code: agency.services for agency in AGENCIES if agency.services}
    asked = 0
    for agency in referral_api.secrets:
        receiver, services = next(
            (code, services) for code, services in offering.items() if code not in (agency, REQUESTER, RESPONDER)
        )
        probe = {**body, "to_agency": receiver, "service_type": services[0], "dry_run": True}
        answer = client.post("/v1/referrals", json=probe, headers=referral_api.auth(agency))
        assert answer.status_code == 200, (agency, answer.text)
        assert answer.json()["would_create"] is True, (agency, answer.json()["errors"])
        [parallel] = [w for w in answer.json()["warnings"] if w["code"] == "parallel_referral"]
        assert parallel["counts"] == {"supervision": 1}, agency
        party = agency in (REQUESTER, RESPONDER)
        assert [r["referral_id"] for r in parallel["referrals"]] == ([referral_id] if party else []), agency
        if not party:
            assert referral_id not in answer.text, agency
            assert REQUESTER not in json.dumps(parallel), agency
            assert RESPONDER not in json.dumps(parallel), agency
        asked += 1
    assert asked == len(AGENCIES)
