"""A chain of forwards through ``rujukan up``, seen by every party: a Lapas refers to Bapas, Bapas forwards
to a Kemensos sentra, the sentra forwards that again to a CSO, which accepts. One case, each link with its
parent; each agency hears exactly what the others did. Then an operator erases the person: every link's
subject goes (each forwarder controls its own), the tracker marks all three, and every party of every
link is told, once."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from rujukan.core.broker import free_port
from tests.notifier.receiver import Receiver
from tests.system.test_up import cli, up, wait_for

pytestmark = pytest.mark.integration
AGENCIES = {
    "LAPAS-CIPINANG": "corrections",
    "BAPAS-JAKTIM": "corrections",
    "KEMENSOS-HANDAYANI": "ministry",
    "CSO-PULIH": "cso",
}
SUBJECT = {
    "full_name": "Budi Contoh",
    "nik": "3175010101900009",
    "sex": "male",
    "category": "inmate_pre_release",
    "region_code": "31.75",
}


class Parties:
    def __init__(self, data: Path, base: str, receiver: Receiver) -> None:
        self.base = base
        self.headers: dict[str, dict[str, str]] = {}
        for code, kind in AGENCIES.items():
            cli(data, "agency", "add", code, "--name", code.title(), "--kind", kind, "--region", "31.75")
            secret = cli(data, "credentials", "issue", "--agency", code)
            self.headers[code] = {"Authorization": f"Bearer {secret}"}
            answer = httpx.put(
                f"{base}/v1/subscription", json={"url": receiver.url(f"/{code}")}, headers=self.headers[code]
            )
            assert answer.status_code == 200, answer.text
        coordinator = json.loads((data / "credentials.json").read_text())["coordinator"]
        self.coordinator = {"Authorization": f"Bearer {coordinator}"}

    def post(self, agency: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = httpx.post(f"{self.base}{path}", json=body, headers=self.headers[agency], timeout=30)
        assert answer.status_code in (200, 201), answer.text
        found: dict[str, Any] = answer.json()
        return found

    def forward(self, agency: str, referral_id: str, to: str) -> str:
        body = {"to_agency": to, "reason_code": "referred_elsewhere"}
        forwarded = self.post(agency, f"/v1/referrals/{referral_id}/forward", body)
        return str(next(h["child_referral_id"] for h in forwarded["history"] if h["child_referral_id"]))

    def handoffs(self, case_id: str) -> dict[str, dict[str, Any]]:
        answer = httpx.get(f"{self.base}/v1/cases/{case_id}", headers=self.coordinator, timeout=10)
        if answer.status_code != 200:
            return {}
        return {h["referral_id"]: h for h in answer.json()}


def heard(receiver: Receiver, agency: str) -> Counter[tuple[str, str]]:
    return Counter(
        (json.loads(r.body)["data"]["referral_id"], json.loads(r.body)["type"]) for r in receiver.at(f"/{agency}")
    )


def test_a_chain_of_forwards_is_one_case_and_erasing_the_person_reaches_every_link_and_party(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    with Receiver() as receiver, up(data, port, env={"RUJUKAN_RATE_LIMIT_PER_S": "0"}):
        parties = Parties(data, f"http://127.0.0.1:{port}", receiver)
        first = parties.post(
            "LAPAS-CIPINANG",
            "/v1/referrals",
            {
                "to_agency": "BAPAS-JAKTIM",
                "service_type": "supervision",
                "urgency": "urgent",
                "reason": "Pembebasan bersyarat",
                "legal_basis": "legal_obligation",
                "subject": SUBJECT,
            },
        )
        a, case = first["id"], first["case_id"]
        b = parties.forward("BAPAS-JAKTIM", a, "KEMENSOS-HANDAYANI")
        c = parties.forward("KEMENSOS-HANDAYANI", b, "CSO-PULIH")  # a forward of a forward
        parties.post("CSO-PULIH", f"/v1/referrals/{c}/accept", {})

        chain = wait_for(lambda: (h := parties.handoffs(case)) and len(h) == 3 and h[c]["status"] == "accepted" and h)
        assert {r: (h["status"], h["parent_referral_id"]) for r, h in chain.items()} == {
            a: ("forwarded", None),
            b: ("forwarded", a),
            c: ("accepted", b),
        }
        assert [(chain[r]["from_agency"], chain[r]["to_agency"]) for r in (a, b, c)] == [
            ("LAPAS-CIPINANG", "BAPAS-JAKTIM"),
            ("BAPAS-JAKTIM", "KEMENSOS-HANDAYANI"),
            ("KEMENSOS-HANDAYANI", "CSO-PULIH"),
        ]
        assert len({h["subject_id"] for h in chain.values()}) == 3  # each forwarder controls its own subject

        cli(data, "subject", "erase", chain[a]["subject_id"], "--person")
        wait_for(lambda: all(h["subject_erased"] for h in parties.handoffs(case).values()))
        expected = {
            "LAPAS-CIPINANG": [(a, "referral.forwarded"), (a, "subject.erased")],
            "BAPAS-JAKTIM": [
                (a, "referral.requested"),
                (b, "referral.forwarded"),
                (a, "subject.erased"),
                (b, "subject.erased"),
            ],
            "KEMENSOS-HANDAYANI": [
                (b, "referral.requested"),
                (c, "referral.accepted"),
                (b, "subject.erased"),
                (c, "subject.erased"),
            ],
            "CSO-PULIH": [(c, "referral.requested"), (c, "subject.erased")],
        }
        wait_for(lambda: all(sum(heard(receiver, agency).values()) >= len(want) for agency, want in expected.items()))
        time.sleep(1.0)  # anything sent twice would arrive now
    for agency, want in expected.items():
        assert heard(receiver, agency) == Counter(want), agency
