"""Authorisation matrix over every route of the OpenAPI document x every kind of caller.

Parties get an answer about the referral; an unrelated agency gets exactly what it would get for an id
that does not exist (status and body); no credential or a revoked one gets 401. Nobody learns that
another agency's referral exists.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rujukan.core.lifecycle import Action
from rujukan.referral.api.app import create_app
from rujukan.referral.context import ReferralContext
from rujukan.referral.registry import issue_credential, revoke_credential
from rujukan.referral.settings import ReferralSettings
from tests.referral.conftest import SUBJECT, Agencies, referral_body

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
SERIALS = itertools.count(1)
PATH_BODIES: dict[str, dict[str, Any]] = {
    "/v1/subjects/{subject_id}/correct": {"full_name": "Nama Terkoreksi"},
    "/v1/referrals/{referral_id}/follow-ups": {"checkpoint_months": 3, "outcome": "employed"},
}
METHOD_BODIES: dict[tuple[str, str], Any] = {
    ("PUT", "/fhir/r4/Task/{referral_id}"): {"resourceType": "Task", "status": "accepted"},
    ("PATCH", "/fhir/r4/Task/{referral_id}"): [{"op": "replace", "path": "/status", "value": "accepted"}],
}


def _requests(paths: dict[str, Any], referral_id: str, subject_id: str) -> Iterator[tuple[str, str, Any]]:
    """(method, url, json body) for every operation on a path that names a referral or a subject."""
    for path, operations in paths.items():
        if "{referral_id}" not in path and "{subject_id}" not in path:
            continue  # the directory's paths name a service type: anyone's to read, each agency's own to write
        for method in operations:
            actions = [a.value for a in Action] if "{action}" in path else [""]
            for action in actions:
                url = path.replace("{referral_id}", referral_id).replace("{subject_id}", subject_id)
                body = ACTION_BODIES.get(action) or METHOD_BODIES.get((method.upper(), path)) or PATH_BODIES.get(path)
                yield method.upper(), url.replace("{action}", action), body


def _new_referral(client: TestClient, agencies: Agencies) -> tuple[str, str]:
    """A referral of a person of its own (a restriction or erasure of one call must not carry to the next)."""
    subject = {**SUBJECT, "nik": f"317501010190{next(SERIALS):04d}"}
    created = client.post("/v1/referrals", json=referral_body(subject=subject), headers=agencies[REQUESTER])
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["subject_id"]


@pytest.fixture
def client(settings: ReferralSettings, ctx: ReferralContext) -> Iterator[TestClient]:
    """The service without its rate limit: the matrix makes hundreds of calls a second per credential."""
    unlimited = settings.model_copy(update={"rate_limit_per_s": 0})
    with TestClient(create_app(unlimited, context=ctx), raise_server_exceptions=False) as test_client:
        yield test_client


def _alias(client: TestClient, referral_id: str, headers: dict[str, str], fallback: str) -> str:
    """The caller's own alias of the referral's subject (each agency names a subject differently); for a
    caller that cannot see the referral, another party's alias (which must lead it nowhere)."""
    seen = client.get(f"/v1/referrals/{referral_id}", headers=headers)
    return str(seen.json()["subject_id"]) if seen.status_code == 200 else fallback


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
            referral_id, requester_alias = _new_referral(client, agencies)  # a fresh referral per call
            subject_id = _alias(client, referral_id, headers, requester_alias)
            url = template_url.replace(template_id, referral_id).replace(template_subject, subject_id)
            response = client.request(method, url, json=body, headers=headers)
            missing_url = url.replace(referral_id, str(uuid.uuid4())).replace(subject_id, "sub_" + "0" * 20)
            missing = client.request(method, missing_url, json=body, headers=headers)
            checked += 1
            problem = _judge(caller, template_url, response, missing)
            if problem:
                failures.append(f"{method} {template_url} as {caller}: {problem}")
            if caller == "responder" and subject_id in url and subject_id != requester_alias:
                # the requester's alias is not the responder's: it leads nowhere, like a missing one
                crossed = client.request(method, url.replace(subject_id, requester_alias), json=body, headers=headers)
                if crossed.status_code != 404 or crossed.content != missing.content:
                    failures.append(f"{method} {template_url} as responder with the requester's alias: answered")
    assert checked >= 6 * 12
    assert failures == []


def _judge(caller: str, template_url: str, response: Any, missing: Any) -> str | None:
    if caller in ("no credential", "revoked", "malformed"):
        return None if response.status_code == missing.status_code == 401 else f"{response.status_code}, not 401"
    if caller == "stranger":
        if response.status_code != 404:
            return f"answered {response.status_code}"
        if response.content != missing.content:
            return "404 body differs from the body for a missing id"
        return None
    controller_only = template_url.startswith("/v1/subjects/") and not template_url.endswith("/record")
    if caller == "responder" and controller_only:
        # the requester controls the subject: the responder is told to ask it, and nothing happens
        return None if response.status_code == 403 else f"the responder got {response.status_code}, not 403"
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


@pytest.mark.parametrize("field", ["continues_referral_id", "case_id"])
def test_continuing_a_strangers_referral_or_case_looks_like_a_missing_one(
    client: TestClient, agencies: Agencies, field: str
) -> None:
    """A case is continued only by a party to one of its referrals; anyone else gets exactly the 404 of an
    id that does not exist, and nothing is stored."""
    referral_id, _ = _new_referral(client, agencies)
    mine = client.get(f"/v1/referrals/{referral_id}", headers=agencies[REQUESTER]).json()
    real = referral_id if field == "continues_referral_id" else mine["case_id"]
    answers = []
    for value in (real, str(uuid.uuid4())):
        response = client.post(
            "/v1/referrals", json=referral_body(**{field: value}, to_agency=RESPONDER), headers=agencies[STRANGER]
        )
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 404
    outgoing = client.get("/v1/referrals", params={"direction": "outgoing"}, headers=agencies[STRANGER]).json()
    assert outgoing["items"] == []
    continued = client.post(
        "/v1/referrals", json=referral_body(**{field: real}, to_agency=STRANGER), headers=agencies[RESPONDER]
    )
    assert continued.status_code == 201, continued.text  # a party continues it
    assert continued.json()["case_id"] == mine["case_id"]
