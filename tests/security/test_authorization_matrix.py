"""The authorisation matrix, generated from the OpenAPI: every route that takes an id, called by every
kind of caller. A route added later with an id this file does not know fails the test until it is
placed in the matrix.

Referral service: an agency that is not a party gets exactly the answer an id that does not exist gets
(status and body), and changes nothing; no credential, a malformed, a revoked or another service's
credential gets 401. Tracker: only coordinator and auditor credentials read; agency credentials get 401.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rujukan.core.lifecycle import RULES, Action
from rujukan.referral.registry import list_credentials, revoke_credential
from rujukan.tracker.access import TrackerRole
from tests.security.conftest import OUTSIDER, REQUESTER, RESPONDER, ReferralApi, TrackerApi

pytestmark = pytest.mark.integration
PARAMETER = re.compile(r"\{(\w+)\}")
ROUTE_BODIES: dict[str, dict[str, Any]] = {"/v1/subjects/{subject_id}/correct": {"full_name": "Nama Koreksi"}}
SUBJECT_ROUTES = 6  # record, correct, withdraw-consent, restrict, lift-restriction, erase
BODIES: dict[str, dict[str, Any]] = {
    "reason_code": {"reason_code": "other"},
    "outcome": {"outcome": "goals_met"},
    "note": {"note": "Catatan uji"},
    "to_agency": {"to_agency": "KEMENSOS-REHSOS"},
}


def id_routes(client: TestClient) -> list[tuple[str, str]]:
    paths: dict[str, dict[str, Any]] = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return [(method.upper(), path) for path, methods in paths.items() if "{" in path for method in methods]


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
            body: dict[str, Any] | None = ROUTE_BODIES.get(template)
            if "action" in combo:
                body = {}
                for field in RULES[Action(combo["action"])].requires:
                    body.update(BODIES[field])
            yield method, url, body


def call(client: TestClient, method: str, url: str, body: Any, headers: dict[str, str]) -> Any:
    return client.request(method, url, json=body, headers=headers)


def test_referral_routes_tell_outsiders_nothing_and_let_them_change_nothing(referral_api: ReferralApi) -> None:
    client, referral = referral_api.client, referral_api.referral
    routes = id_routes(client)
    assert len(routes) == 2 + SUBJECT_ROUTES, routes  # get, act, and the subject's rights
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
    assert checked == len(outsiders) * (1 + len(Action) + SUBJECT_ROUTES)
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
    revoked = referral_api.secrets[OUTSIDER]
    for credential in list_credentials(referral_api.ctx, agency_code=OUTSIDER):
        revoke_credential(referral_api.ctx, credential_id=credential.id)
    callers = {
        "none": {},
        "malformed": {"Authorization": "Bearer not-a-credential"},
        "basic scheme": {"Authorization": f"Basic {referral_api.secrets[REQUESTER]}"},
        "revoked": {"Authorization": f"Bearer {revoked}"},
        "coordinator of the tracker": {"Authorization": f"Bearer {tracker_api.secrets[TrackerRole.COORDINATOR]}"},
    }
    values = {"referral_id": [referral["id"]], "subject_id": [referral["subject_id"]], "action": ["accept", "note"]}
    for name, headers in callers.items():
        for method, url, body in requests_for(id_routes(client), values):
            answer = call(client, method, url, body, headers)
            assert answer.status_code == 401, (name, method, url, answer.status_code)
            assert referral["id"] not in answer.text


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
    assert len(routes) == 2, routes  # one handoff, one case
    values = {"referral_id": [str(journey.referral_id)], "case_id": [str(journey.case_id)]}
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
