"""``rujukan demo`` against a real ``rujukan up``, as a user runs them: the demo's journeys must leave in
the tracker exactly the referrals, statuses and cases its table describes, every webhook they cause must
reach the inbox ``up`` serves with a valid signature, and a second run on the same day must change nothing
but add the one note it takes again."""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from rujukan.core.broker import free_port
from tests.system.test_up import RUJUKAN, clean_env, up, wait_for

pytestmark = pytest.mark.integration
AGENCIES = 13
DIRECTORY_ENTRIES = 21  # every service of the 11 agencies that offer one (demo_directory.json)
# (from_agency, to_agency, service_type, status) of every handoff the journeys leave behind
EXPECTED_HANDOFFS = Counter(
    {
        # an inmate nearing release
        ("LAPAS-CIPINANG", "BAPAS-JAKTIM", "supervision", "in_progress"): 1,
        ("BAPAS-JAKTIM", "SENTRA-HANDAYANI", "skills_training", "completed"): 1,
        ("BAPAS-JAKTIM", "YAYASAN-KARYA-MANDIRI", "employment", "received"): 1,
        # a woman victim of violence
        ("POLRES-JAKTIM-PPA", "UPTD-PPA-DKI", "safe_shelter", "completed"): 1,
        ("UPTD-PPA-DKI", "RSUD-PASAR-REBO", "health_care", "completed"): 1,
        ("UPTD-PPA-DKI", "LBH-APIK-JAKARTA", "legal_aid", "in_progress"): 1,
        # a child victim (and, in the same row, five of the twenty victims below)
        ("POLRES-JAKTIM-PPA", "UPTD-PPA-DKI", "psychosocial_support", "completed"): 1 + 5,
        ("UPTD-PPA-DKI", "YAYASAN-PULIH", "counselling", "completed"): 1,
        ("UPTD-PPA-DKI", "PUSKESMAS-DUREN-SAWIT", "health_care", "received"): 1,
        # a deradicalisation partner, forwarded on to Dinas Sosial
        ("LAPAS-CIPINANG", "BNPT", "deradicalisation_programme", "in_progress"): 1,
        ("BNPT", "KEMENSOS-REHSOS", "family_reintegration", "forwarded"): 1,
        ("KEMENSOS-REHSOS", "DINSOS-DKI", "family_reintegration", "requested"): 1,
        # a rejection, the re-referral, a cancellation
        ("BAPAS-JAKTIM", "SENTRA-HANDAYANI", "skills_training", "rejected"): 1,
        ("BAPAS-JAKTIM", "DINSOS-DKI", "economic_empowerment", "received"): 1,
        ("BAPAS-JAKTIM", "DINSOS-DKI", "civil_documentation", "cancelled"): 1,
        # the other victims of violence
        ("POLRES-JAKTIM-PPA", "UPTD-PPA-DKI", "psychosocial_support", "requested"): 2,
        ("POLRES-JAKTIM-PPA", "UPTD-PPA-DKI", "psychosocial_support", "rejected"): 1,
        ("POLRES-JAKTIM-PPA", "UPTD-PPA-DKI", "psychosocial_support", "accepted"): 2,
        ("POLRES-JAKTIM-PPA", "YAYASAN-PULIH", "psychosocial_support", "requested"): 2,
        ("POLRES-JAKTIM-PPA", "YAYASAN-PULIH", "psychosocial_support", "rejected"): 2,
        ("POLRES-JAKTIM-PPA", "YAYASAN-PULIH", "psychosocial_support", "accepted"): 2,
        ("POLRES-JAKTIM-PPA", "YAYASAN-PULIH", "psychosocial_support", "completed"): 4,
        # emergencies nobody answered
        ("POLRES-JAKTIM-PPA", "SENTRA-HANDAYANI", "safe_shelter", "requested"): 3,
        # the woman again, in a case of its own while her legal aid runs: parallel referrals
        ("YAYASAN-PULIH", "RSUD-PASAR-REBO", "mental_health", "requested"): 1,
    }
)
# One pathway of each template (demo_pathways.json): the steps whose day has come are sent, the others planned.
EXPECTED_PATHWAY_HANDOFFS = Counter(
    {
        ("LAPAS-CIPINANG", "BAPAS-JAKTIM", "supervision", "requested"): 1,
        ("LAPAS-CIPINANG", "SENTRA-HANDAYANI", "skills_training", "planned"): 1,
        ("LAPAS-CIPINANG", "YAYASAN-KARYA-MANDIRI", "employment", "planned"): 2,
        ("LAPAS-CIPINANG", "BNPT", "deradicalisation_programme", "requested"): 1,
        ("LAPAS-CIPINANG", "DINSOS-DKI", "civil_documentation", "planned"): 1,
        ("LAPAS-CIPINANG", "KEMENSOS-REHSOS", "family_reintegration", "planned"): 1,
        ("POLRES-JAKTIM-PPA", "UPTD-PPA-DKI", "safe_shelter", "requested"): 1,
        ("POLRES-JAKTIM-PPA", "PUSKESMAS-DUREN-SAWIT", "health_care", "requested"): 1,
        ("POLRES-JAKTIM-PPA", "LBH-APIK-JAKARTA", "legal_aid", "requested"): 1,
        ("POLRES-JAKTIM-PPA", "YAYASAN-PULIH", "psychosocial_support", "planned"): 1,
    }
)
# Every event is told to the other party: 38 creates, the forward's new referral, 79 actions and 11 steps.
EXPECTED_WEBHOOKS = 38 + 1 + 79 + 11


def run_demo(data: Path) -> str:
    """``rujukan demo`` on the data dir of the running system; its report (stderr, one line a message)."""
    done = subprocess.run(
        [*RUJUKAN, "demo", "--data-dir", str(data)],
        env=clean_env() | {"COLUMNS": "1000"},
        capture_output=True,
        timeout=240,
    )
    assert done.returncode == 0, f"rujukan demo exited with {done.returncode}: {done.stderr.decode()[-2000:]}"
    return done.stderr.decode()


def handoffs(base: str, coordinator: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{base}/v1/handoffs", params={"page_size": 500}, headers={"Authorization": f"Bearer {coordinator}"}
    )
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def shape(items: list[dict[str, Any]], *, pathways: bool = False) -> Counter[tuple[str, str, str, str]]:
    """The journeys' handoffs (or, with ``pathways``, the pathway steps') as (from, to, service, status)."""
    return Counter(
        (h["from_agency"], h["to_agency"], h["service_type"], h["status"])
        for h in items
        if (h["pathway_id"] is not None) == pathways
    )


def settled_handoffs(base: str, coordinator: str) -> list[dict[str, Any]]:
    """The handoffs, once the tracker shows what the journeys leave; otherwise what differs, after 60 s."""

    def as_expected() -> list[dict[str, Any]] | None:
        found = handoffs(base, coordinator)
        done = shape(found) == EXPECTED_HANDOFFS and shape(found, pathways=True) == EXPECTED_PATHWAY_HANDOFFS
        return found if done else None

    try:
        settled: list[dict[str, Any]] = wait_for(as_expected)
    except AssertionError:
        assert shape(handoffs(base, coordinator)) == EXPECTED_HANDOFFS
        assert shape(handoffs(base, coordinator), pathways=True) == EXPECTED_PATHWAY_HANDOFFS
        raise
    return settled


def inbox(base: str) -> dict[str, Any]:
    summary: dict[str, Any] = httpx.get(f"{base}/demo/webhooks").json()
    return summary


def _directory_is_filled_with_one_service_full(base: str, coordinator: str, agency: str) -> None:
    listed = httpx.get(f"{base}/v1/directory/services", headers={"Authorization": f"Bearer {agency}"})
    assert listed.status_code == 200, listed.text
    entries = listed.json()["items"]
    assert len(entries) == DIRECTORY_ENTRIES
    full = [(e["agency"], e["service_type"]) for e in entries if e["capacity"] and e["capacity"]["available"] == 0]
    # the shelter says it is full; the skills training is full since Sentra rejected a referral for capacity
    assert sorted(full) == [("SENTRA-HANDAYANI", "safe_shelter"), ("SENTRA-HANDAYANI", "skills_training")]

    def capacity() -> dict[str, Any] | None:
        answer = httpx.get(f"{base}/v1/stats/capacity", headers={"Authorization": f"Bearer {coordinator}"})
        view: dict[str, Any] = answer.json()
        return view if len(view["entries"]) == DIRECTORY_ENTRIES else None

    view = wait_for(capacity)  # the tracker follows the directory topic the relay worker publishes to
    shelter = next(c for c in view["cells"] if c["service_type"] == "safe_shelter" and c["region"] == "31")
    assert shelter["full"] == 1  # of two: UPTD PPA's has room
    assert shelter["services"] == 2


def _a_demo_person_works_in_the_inbox(base: str, credentials: dict[str, Any], items: list[dict[str, Any]]) -> None:
    """Every demo agency has a person; the Bapas one signs in through ``up``'s one address, sees the Bapas'
    open incoming referrals, and reads the agency's webhook subscription from the notifier by the session."""
    staff = credentials["staff"]
    assert set(staff) == set(credentials["agencies"])
    assert all(person["staff_id"].startswith("stf_") for person in staff.values())
    with httpx.Client(base_url=base) as browser:
        nonce = re.search(r'name="csrf" value="([^"]+)"', browser.get("/agency/login").text)
        assert nonce is not None
        form = {"secret": staff["BAPAS-JAKTIM"]["secret"], "csrf": nonce.group(1)}
        assert browser.post("/agency/login", data=form).headers["location"] == "/agency/"
        csrf = re.search(r'name="csrf-token" content="([0-9a-f]{64})"', browser.get("/agency/").text)
        assert csrf is not None
        assert browser.get("/v1/subscription").status_code == 403  # not without the page's token
        browser.headers["X-CSRF-Token"] = csrf.group(1)
        listed = browser.get("/agency/api/inbox", params={"direction": "incoming"})
        assert listed.status_code == 200, listed.text
        open_ones = {"requested", "received", "accepted", "in_progress", "on_hold"}
        expected = {h["referral_id"] for h in items if h["to_agency"] == "BAPAS-JAKTIM" and h["status"] in open_ones}
        assert {i["id"] for i in listed.json()["items"]} == expected
        subscription = browser.get("/v1/subscription")
        assert subscription.status_code == 200, subscription.text
        assert subscription.json()["owner"] == "BAPAS-JAKTIM"
        assert browser.get("/v1/deliveries").status_code == 200
        assert browser.put("/v1/subscription", json={"url": f"{base}/x"}).status_code == 403  # reads only


def test_the_demo_leaves_its_journeys_in_the_tracker_and_its_webhooks_in_the_inbox(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    with up(data, port):
        report = run_demo(data)
        assert (
            f"demo: {DIRECTORY_ENTRIES} directory entries, 38 referrals created, 79 actions taken; "
            f"credentials of {AGENCIES} agencies in "
            f"{data / 'credentials.json'}; webhooks received: {base}/demo/webhooks; "
            "3 pathways started (11 steps, 6 planned for later days)"
        ) in report
        credentials = json.loads((data / "credentials.json").read_text())
        assert len(credentials["agencies"]) == AGENCIES
        coordinator = credentials["coordinator"]
        settled = settled_handoffs(base, coordinator)
        steps = [h for h in settled if h["pathway_id"] is not None]
        cases = Counter(h["case_id"] for h in steps)
        assert sorted(cases.values()) == [3, 4, 4]  # a pathway is one case
        assert len({h["pathway_id"] for h in steps}) == 3
        assert all(h["planned_for"] and h["ack_due_at"] is None for h in steps if h["status"] == "planned")
        items = [h for h in settled if h["pathway_id"] is None]

        by_id = {h["referral_id"]: h for h in items}
        parents = {by_id[h["parent_referral_id"]]["status"] for h in items if h["parent_referral_id"]}
        assert parents == {"forwarded", "rejected"}  # the forward's new referral, the re-referral
        case_sizes = Counter(Counter(h["case_id"] for h in items).values())
        assert case_sizes == {3: 4, 2: 1, 1: 25}  # four journeys of three handoffs, one of two

        _directory_is_filled_with_one_service_full(base, coordinator, credentials["agencies"]["LAPAS-CIPINANG"])
        parallel = {(h["from_agency"], h["to_agency"]) for h in items if h["parallel_referrals"]}
        assert parallel == {("UPTD-PPA-DKI", "LBH-APIK-JAKARTA"), ("YAYASAN-PULIH", "RSUD-PASAR-REBO")}
        wait_for(lambda: inbox(base)["counts"].get("verified", 0) >= EXPECTED_WEBHOOKS)
        heard = inbox(base)
        assert "refused" not in heard["counts"]
        assert set(heard["by_agency"]) == set(credentials["agencies"])  # every demo agency heard something
        _a_demo_person_works_in_the_inbox(base, credentials, handoffs(base, coordinator))

        again = run_demo(data)
        assert f"demo: {DIRECTORY_ENTRIES} directory entries, 0 referrals created, 1 actions taken (78 already" in again
        assert "0 pathways started (0 steps" in again
        assert json.loads((data / "credentials.json").read_text())["staff"] == credentials["staff"]  # kept
        wait_for(lambda: inbox(base)["counts"].get("verified", 0) >= EXPECTED_WEBHOOKS + 1)  # the note again
        assert shape(handoffs(base, coordinator)) == EXPECTED_HANDOFFS
        assert shape(handoffs(base, coordinator), pathways=True) == EXPECTED_PATHWAY_HANDOFFS
