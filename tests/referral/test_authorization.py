"""Authorisation matrix over every route of the OpenAPI document x every kind of caller.

Parties get an answer about the referral; an unrelated agency gets exactly what it would get for an id
that does not exist (status and body); no credential or a revoked one gets 401. Nobody learns that
another agency's referral exists.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rujukan.core.lifecycle import Action
from rujukan.referral.context import ReferralContext
from rujukan.referral.registry import issue_credential, revoke_credential
from tests.referral.conftest import Agencies, referral_body

pytestmark = pytest.mark.integration
REQUESTER, RESPONDER, STRANGER = "LAPAS-CIPINANG", "BAPAS-JAKTIM", "KEMENSOS-HANDAYANI"
ACTION_BODIES: dict[str, dict[str, Any]] = {
    "reject": {"reason_code": "not_eligible"},
    "hold": {"reason_code": "other"},
    "fail": {"reason_code": "other"},
    "cancel": {"reason_code": "duplicate"},
    "complete": {"outcome": "goals_met"},
    "note": {"note": "catatan"},
    "forward": {"to_agency": "RSUD-KRAMATJATI", "reason_code": "referred_elsewhere"},
}


def _requests(paths: dict[str, Any], referral_id: str, subject_id: str) -> Iterator[tuple[str, str, Any]]:
    """(method, url, json body) for every operation on a path that names a referral or a subject."""
    for path, operations in paths.items():
        if "{" not in path:
            continue
        for method in operations:
            actions = [a.value for a in Action] if "{action}" in path else [""]
            for action in actions:
                url = path.replace("{referral_id}", referral_id).replace("{subject_id}", subject_id)
                yield method.upper(), url.replace("{action}", action), ACTION_BODIES.get(action)


def _new_referral(client: TestClient, agencies: Agencies) -> tuple[str, str]:
    created = client.post("/v1/referrals", json=referral_body(), headers=agencies[REQUESTER]).json()
    return created["id"], created["subject_id"]


def test_no_route_leaks_another_agencys_referral(client: TestClient, agencies: Agencies, ctx: ReferralContext) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    revoked = issue_credential(ctx, agency_code=RESPONDER)
    revoke_credential(ctx, credential_id=revoked.id)
    callers = {
        "requester": agencies[REQUESTER],
        "responder": agencies[RESPONDER],
        "stranger": agencies[STRANGER],
        "no credential": {},
        "revoked": {"Authorization": f"Bearer {revoked.secret}"},
        "malformed": {"Authorization": "Basic dXNlcjpwYXNz"},
    }
    failures: list[str] = []
    checked = 0
    template_id, template_subject = _new_referral(client, agencies)
    for method, template_url, body in _requests(paths, template_id, template_subject):
        for caller, headers in callers.items():
            referral_id, subject_id = _new_referral(client, agencies)  # a fresh referral per call
            url = template_url.replace(template_id, referral_id).replace(template_subject, subject_id)
            response = client.request(method, url, json=body, headers=headers)
            missing_url = url.replace(referral_id, str(uuid.uuid4())).replace(subject_id, "sub_" + "0" * 20)
            missing = client.request(method, missing_url, json=body, headers=headers)
            checked += 1
            problem = _judge(caller, response, missing)
            if problem:
                failures.append(f"{method} {template_url} as {caller}: {problem}")
    assert checked >= 6 * 12
    assert failures == []


def _judge(caller: str, response: Any, missing: Any) -> str | None:
    if caller in ("no credential", "revoked", "malformed"):
        return None if response.status_code == missing.status_code == 401 else f"{response.status_code}, not 401"
    if caller == "stranger":
        if response.status_code != 404:
            return f"answered {response.status_code}"
        if response.content != missing.content:
            return "404 body differs from the body for a missing id"
        return None
    if response.status_code in (401, 403, 404) or response.status_code >= 500:
        return f"a party got {response.status_code}"
    return None


def test_lists_show_only_the_callers_referrals(client: TestClient, agencies: Agencies) -> None:
    referral_id, _ = _new_referral(client, agencies)
    for direction in ("incoming", "outgoing"):
        page = client.get("/v1/referrals", params={"direction": direction}, headers=agencies[STRANGER])
        assert page.status_code == 200
        assert referral_id not in page.text


def test_re_referral_of_a_stranger_referral_looks_like_a_missing_one(client: TestClient, agencies: Agencies) -> None:
    referral_id, _ = _new_referral(client, agencies)
    answers = []
    for parent in (referral_id, str(uuid.uuid4())):
        response = client.post(
            "/v1/referrals",
            json=referral_body(parent_referral_id=parent, to_agency=RESPONDER),
            headers=agencies[STRANGER],
        )
        answers.append((response.status_code, response.json()["detail"]))
    assert answers[0] == answers[1] == (422, "parent_referral_id does not name a referral of yours")
