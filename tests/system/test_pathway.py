"""One person's journey across agencies, through the HTTP API of a real ``rujukan up``: a Lapas refers an
inmate to Bapas (accepted, started); Bapas continues the case with a referral of the same person to a
Kemensos sentra for skills training; the sentra forwards to a CSO, which completes. The coordinator sees
one case with three hops in order, each continuation and forward linked, and the person's pathway by
pseudonym; an agency that is no party to the case cannot continue it (404, as for a referral that does
not exist)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from rujukan.core.broker import free_port
from tests.system.test_up import cli, up, wait_for

pytestmark = pytest.mark.integration
AGENCIES = {
    "LAPAS-CIPINANG": ("Lapas Kelas I Cipinang", "corrections"),
    "BAPAS-JAKTIM": ("Bapas Kelas I Jakarta Timur", "corrections"),
    "SENTRA-HANDAYANI": ("Sentra Handayani", "ministry"),
    "YAYASAN-KARYA": ("Yayasan Karya Mandiri", "cso"),
    "RSUD-PASAR-REBO": ("RSUD Pasar Rebo", "health"),
}
SUBJECT = {
    "full_name": "Budi Contoh",
    "nik": "3175010101880002",
    "birth_date": "1988-04-12",
    "sex": "male",
    "category": "inmate_pre_release",
    "region_code": "31.75",
}


def body(to: str, service: str, **more: Any) -> dict[str, Any]:
    return {
        "to_agency": to,
        "service_type": service,
        "urgency": "routine",
        "reason": "Langkah berikutnya reintegrasi",
        "legal_basis": "legal_obligation",
        "subject": SUBJECT,
        **more,
    }


def test_a_persons_journey_across_agencies_is_one_case_in_order(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    with up(data, port):
        auth = {}
        for code, (name, kind) in AGENCIES.items():
            cli(data, "agency", "add", code, "--name", name, "--kind", kind, "--region", "31.75")
            auth[code] = {"Authorization": f"Bearer {cli(data, 'credentials', 'issue', '--agency', code)}"}
        coordinator = {"Authorization": f"Bearer {json.loads((data / 'credentials.json').read_text())['coordinator']}"}
        with httpx.Client(base_url=base, timeout=30) as api:

            def post(path: str, who: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
                answer = api.post(path, json=payload, headers=auth[who])
                assert answer.status_code in (200, 201), f"{path}: {answer.status_code} {answer.text}"
                found: dict[str, Any] = answer.json()
                return found

            first = post("/v1/referrals", "LAPAS-CIPINANG", body("BAPAS-JAKTIM", "supervision"))
            post(f"/v1/referrals/{first['id']}/accept", "BAPAS-JAKTIM")
            post(f"/v1/referrals/{first['id']}/start", "BAPAS-JAKTIM")

            # an agency that is no party to the case: the same 404 as for a referral that does not exist
            outsider = [
                api.post(
                    "/v1/referrals",
                    json=body("SENTRA-HANDAYANI", "skills_training", continues_referral_id=referral),
                    headers=auth["RSUD-PASAR-REBO"],
                )
                for referral in (first["id"], str(uuid.uuid4()))
            ]
            assert [a.status_code for a in outsider] == [404, 404]
            assert outsider[0].json() == outsider[1].json()

            second = post(
                "/v1/referrals",
                "BAPAS-JAKTIM",
                body("SENTRA-HANDAYANI", "skills_training", continues_referral_id=first["id"]),
            )
            assert second["case_id"] == first["case_id"]
            assert second["continues_referral_id"] == first["id"]
            post(f"/v1/referrals/{second['id']}/accept", "SENTRA-HANDAYANI")
            post(
                f"/v1/referrals/{second['id']}/forward",
                "SENTRA-HANDAYANI",
                {"to_agency": "YAYASAN-KARYA", "reason_code": "referred_elsewhere"},
            )
            [third] = api.get("/v1/referrals", params={"direction": "incoming"}, headers=auth["YAYASAN-KARYA"]).json()[
                "items"
            ]
            for action in ("accept", "start"):
                post(f"/v1/referrals/{third['id']}/{action}", "YAYASAN-KARYA")
            post(f"/v1/referrals/{third['id']}/complete", "YAYASAN-KARYA", {"outcome": "goals_met"})

            def case() -> list[dict[str, Any]] | None:
                answer = api.get(f"/v1/cases/{first['case_id']}", headers=coordinator)
                hops: list[dict[str, Any]] = answer.json() if answer.status_code == 200 else []
                return hops if [h["status"] for h in hops] == ["in_progress", "forwarded", "completed"] else None

            hops = wait_for(case)
            assert [(h["from_agency"], h["to_agency"]) for h in hops] == [
                ("LAPAS-CIPINANG", "BAPAS-JAKTIM"),
                ("BAPAS-JAKTIM", "SENTRA-HANDAYANI"),
                ("SENTRA-HANDAYANI", "YAYASAN-KARYA"),
            ]
            assert hops[1]["continues_referral_id"] == first["id"]  # a continuation
            assert hops[2]["parent_referral_id"] == second["id"]  # a forward
            # the supervision still runs beside the skills training, but in the same case: a pathway, not parallel
            assert "parallel_referral" not in [w["code"] for w in second["warnings"]]

            pathway = api.get(f"/v1/pathways/{hops[0]['subject_id']}", headers=coordinator)
            assert pathway.status_code == 200, pathway.text
            assert [h["referral_id"] for h in pathway.json()] == [h["referral_id"] for h in hops]
            assert api.get("/v1/pathways/sub_00000000000000000000", headers=coordinator).status_code == 404
            assert SUBJECT["full_name"] not in pathway.text
