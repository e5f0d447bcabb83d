"""Nothing the services log, at any level, holds a credential or a subject's data: the happy path, a
wrong credential, an invalid body full of personal data, a refused action and a database outage."""

from __future__ import annotations

import logging

import pytest

from tests.databases import postgres_refusing
from tests.security.conftest import OUTSIDER, REQUESTER, RESPONDER, SUBJECT, ReferralApi

pytestmark = pytest.mark.integration
NIK = "3175012345678901"


def test_no_secret_or_personal_data_reaches_the_log(
    referral_api: ReferralApi, caplog: pytest.LogCaptureFixture
) -> None:
    client, referral = referral_api.client, referral_api.referral
    caplog.set_level(logging.DEBUG)
    subject = {**SUBJECT, "nik": NIK, "phone": "+62 812 5555 0101"}
    body = {
        "to_agency": RESPONDER,
        "service_type": "supervision",
        "urgency": "urgent",
        "reason": "Alasan rahasia",
        "legal_basis": "legal_obligation",
        "subject": subject,
    }
    assert client.post("/v1/referrals", json=body, headers=referral_api.auth(REQUESTER)).status_code == 201
    invalid = {**body, "subject": {**subject, "birth_date": "not a date", "nik": NIK + "9"}}
    assert client.post("/v1/referrals", json=invalid, headers=referral_api.auth(REQUESTER)).status_code == 422
    assert client.get("/v1/referrals/x", headers={"Authorization": "Bearer rjk_wrong-but-plausible"}).status_code == 401
    note = {"note": f"NIK {NIK} dihubungi"}
    path = f"/v1/referrals/{referral['id']}"
    assert client.post(f"{path}/note", json=note, headers=referral_api.auth(OUTSIDER)).status_code == 404
    assert (
        client.post(f"{path}/complete", json={"outcome": "goals_met"}, headers=referral_api.auth(RESPONDER)).status_code
        == 409
    )
    with postgres_refusing([referral_api.ctx.engine.url.render_as_string(hide_password=False)]):
        assert client.post(f"{path}/note", json=note, headers=referral_api.auth(RESPONDER)).status_code == 503
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records, "nothing was logged: the test would prove nothing"
    for secret in [*referral_api.secrets.values(), "rjk_wrong-but-plausible"]:
        assert secret not in text
    for personal in (NIK, SUBJECT["full_name"], "+62 812 5555 0101", "Alasan rahasia"):
        assert personal not in text
