"""The README's agency-integrator walkthrough, executed as printed against `rujukan up` (on a free port,
in a fresh directory): every command must succeed and do what the text says."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rujukan.core.broker import free_port
from tests.system.test_up import clean_env, up

pytestmark = pytest.mark.integration
README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## For agency integrators", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) >= 4
    return "\n".join(blocks)


def documents(text: str) -> list[Any]:
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        value, at = decoder.raw_decode(text, at)
        found.append(value)
    return found


def test_the_first_command_is_rujukan_up_and_the_second_the_tests() -> None:
    commands = re.findall(r"^    (\S.*)$", README.read_text(encoding="utf-8").split("## For agency", 1)[0], re.M)
    assert "rujukan up" in commands[0]
    assert commands[1] == ".venv/bin/pytest"
    assert ".venv/bin/pytest" in (README.parent / ".ci" / "run").read_text()


def test_the_integrator_walkthrough_works_as_printed(tmp_path: Path) -> None:
    port = free_port()
    script = "set -euo pipefail\n" + walkthrough().replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    env = {**clean_env(), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    with up(tmp_path / "rujukan-data", port) as process:
        done = subprocess.run(
            ["/bin/bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        created = re.search(r"created ([0-9a-f-]{36})\n", done.stdout)
        assert created is not None
        referral_id = created.group(1)
        # curl prints JSON bodies without a newline between them
        task = re.search(r"task ([0-9a-f-]{36})\n", done.stdout)
        assert task is not None
        found = documents(done.stdout.replace(created.group(0), "").replace(task.group(0), ""))
        subscribed, accepted, read, listed, _, logged = found[:6]
        entry, full, directory, matched, pathway = found[6:11]
        metadata, incoming, *answered, task_read, request_read = found[11:]
        assert subscribed["secret"].startswith("whsec_")
        assert accepted["id"] == referral_id
        assert accepted["status"] == "accepted"
        assert read["subject"]["full_name"] == "Budi Contoh"
        assert [r["id"] for r in listed["items"]] == [referral_id]
        deliveries = logged["items"]  # newest first
        assert [(d["type"], d["status"]) for d in deliveries] == [
            ("referral.started", "delivered"),
            ("referral.accepted", "delivered"),
        ]
        # the directory: Bapas publishes its entry, says it is full, and the Lapas finds it, ranked and explained
        assert (entry["agency"], entry["service_type"], entry["capacity"]["available"]) == (
            "BAPAS-JAKPUS",
            "supervision",
            12,
        )
        assert full["capacity"]["available"] == 0
        assert [item["agency"] for item in directory["items"]] == ["BAPAS-JAKPUS"]
        [best] = matched["items"]
        assert best["agency"] == "BAPAS-JAKPUS"
        assert [reason["code"] for reason in best["reasons"]] == [
            "at_capacity",
            "same_kabupaten_kota",
            "acceptance_rate",
            "time_to_accept",
        ]
        # a pathway for Budi: three steps of one case, each continuing the one before, planned until their day
        steps = pathway["steps"]
        assert [s["pathway_step"] for s in steps] == ["supervision", "rehabilitation", "employment"]
        assert [s["to_agency"] for s in steps] == ["BAPAS-JAKPUS", "SENTRA-MULYA-JAYA", "YAYASAN-KERJA"]
        assert {s["case_id"] for s in steps} == {pathway["case_id"]}
        assert [s["continues_referral_id"] for s in steps[1:]] == [s["id"] for s in steps[:-1]]
        assert {s["status"] for s in steps} <= {"planned", "requested"}  # requested once its day has come
        # FHIR: the hospital finds the Lapas's Bundle as a Task, answers it by JSON Patch, and the Lapas reads it
        assert metadata["fhirVersion"] == "4.0.1"
        assert [e["resource"]["id"] for e in incoming["entry"]] == [task.group(1)]
        assert [t["status"] for t in answered] == ["accepted", "in-progress", "completed"]
        assert task_read["status"] == "completed"
        assert task_read["output"][0]["valueCodeableConcept"]["coding"][0]["code"] == "service_delivered"
        assert request_read["reasonCode"] == [{"text": "Pemeriksaan kesehatan jiwa sebelum bebas"}]
        process.send_signal(signal.SIGINT)
        process.wait(20)
