"""The closed loop in FHIR, driven by a FHIR client library written elsewhere (fhirpy) against ``rujukan up``
on SQLite and on PostgreSQL: a Lapas refers by transaction Bundle, the hospital searches its Tasks,
accepts, starts and completes with an output; the Lapas reads the change. The native API, the tracker
and the webhooks see the same referral."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import httpx2 as httpx
import pytest
from fhirpy import SyncFHIRClient

from rujukan.core.broker import free_port
from rujukan.referral.fhir import codes
from tests.notifier.receiver import Receiver
from tests.referral.fhir_bundles import referral_bundle, validated
from tests.system.test_up import cli, up, wait_for

pytestmark = pytest.mark.integration
LAPAS, RSUD = "LAPAS-CIPINANG", "RSUD-KRAMATJATI"


@pytest.mark.parametrize("backend", [(), ("--postgres",)], ids=["sqlite", "postgresql"])
def test_a_fhir_client_closes_the_loop(reachable_dir: Path, backend: tuple[str, ...]) -> None:
    data, port = reachable_dir / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    with Receiver() as receiver, up(data, port, *backend, env={"RUJUKAN_RATE_LIMIT_PER_S": "0"}):
        secrets = {}
        for code, kind in ((LAPAS, "corrections"), (RSUD, "health")):
            cli(data, "agency", "add", code, "--name", code.title(), "--kind", kind, "--region", "31.75")
            secrets[code] = cli(data, "credentials", "issue", "--agency", code)
            headers = {"Authorization": f"Bearer {secrets[code]}"}
            subscribed = httpx.put(f"{base}/v1/subscription", json={"url": receiver.url(f"/{code}")}, headers=headers)
            assert subscribed.status_code == 200, subscribed.text
        lapas = SyncFHIRClient(f"{base}/fhir/r4", authorization=f"Bearer {secrets[LAPAS]}")
        rsud = SyncFHIRClient(f"{base}/fhir/r4", authorization=f"Bearer {secrets[RSUD]}")

        made = validated(lapas.execute("", method="post", data=referral_bundle(requester=LAPAS, owner=RSUD)))
        task_id = next(e["resource"]["id"] for e in made["entry"] if e["resource"]["resourceType"] == "Task")

        incoming = rsud.resources("Task").search(owner=f"Organization/{RSUD}", status="requested").fetch_all()
        assert [t.id for t in incoming] == [task_id]
        task = incoming[0]
        for status in ("accepted", "in-progress"):
            task["status"] = status
            task.save()
            assert task["status"] == status  # fhirpy reads the answer back into the resource
        task["status"] = "completed"
        task["output"] = [
            {
                "type": codes.coding("rujukan-output-type", "outcome"),
                "valueCodeableConcept": codes.coding("rujukan-outcome", "service_delivered"),
            }
        ]
        task.save()

        seen = validated(lapas.get("Task", task_id))
        assert seen["status"] == "completed"
        assert seen["output"][0]["valueCodeableConcept"]["coding"][0]["code"] == "service_delivered"
        native = httpx.get(f"{base}/v1/referrals/{task_id}", headers={"Authorization": f"Bearer {secrets[LAPAS]}"})
        assert native.json()["status"] == "completed"

        coordinator = json.loads((data / "credentials.json").read_text())["coordinator"]

        def tracked() -> bool:
            answer = httpx.get(f"{base}/v1/handoffs/{task_id}", headers={"Authorization": f"Bearer {coordinator}"})
            return answer.status_code == 200 and answer.json()["status"] == "completed"

        wait_for(tracked, timeout=60)
        expected = {
            LAPAS: {"referral.accepted", "referral.started", "referral.completed"},
            RSUD: {"referral.requested"},
        }
        wait_for(lambda: all(expected[a] <= set(_heard(receiver, a, task_id)) for a in expected), timeout=60)
        time.sleep(1.0)  # anything sent twice would arrive now
        for agency, kinds in expected.items():
            assert _heard(receiver, agency, task_id) == Counter(kinds), agency


def _heard(receiver: Receiver, agency: str, referral_id: str) -> Counter[str]:
    bodies = [json.loads(r.body) for r in receiver.at(f"/{agency}")]
    return Counter(b["type"] for b in bodies if b["data"]["referral_id"] == referral_id)
