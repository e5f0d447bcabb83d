"""``rujukan up`` on its other backends, as a user runs it: ``--broker kafka`` (a local Apache Kafka node whose
log lives in the data dir and survives a restart of the whole system, so nothing is published or read
twice) and ``--postgres`` (every service on an embedded PostgreSQL kept in the data dir)."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import httpx2 as httpx
import pytest

from rujukan.core.broker import free_port
from rujukan.core.kafka_install import install
from rujukan.core.settings import CoreSettings
from tests.kafka_helpers import read_topic
from tests.processes import gone
from tests.system.test_up import RUJUKAN, clean_env, cli, create, up, visible, wait_for

pytestmark = pytest.mark.integration


def accept(base: str, secret: str, referral_id: str) -> None:
    answer = httpx.post(
        f"{base}/v1/referrals/{referral_id}/accept", headers={"Authorization": f"Bearer {secret}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text


def test_a_restart_on_apache_kafka_keeps_the_log_and_publishes_nothing_twice(tmp_path: Path) -> None:
    install()
    data, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    with up(data, port, "--broker", "kafka") as process:
        cli(data, "agency", "add", "LAPAS-CIPINANG", "--name", "Lapas", "--kind", "corrections", "--region", "31.75")
        cli(data, "agency", "add", "BAPAS-JAKTIM", "--name", "Bapas", "--kind", "corrections", "--region", "31.75")
        lapas = cli(data, "credentials", "issue", "--agency", "LAPAS-CIPINANG")
        bapas = cli(data, "credentials", "issue", "--agency", "BAPAS-JAKTIM")
        coordinator = json.loads((data / "credentials.json").read_text())["coordinator"]
        first = [create(base, lapas)["id"] for _ in range(40)]
        for referral_id in first[:10]:
            accept(base, bapas, referral_id)
        wait_for(lambda: all(visible(base, coordinator, r) for r in first), timeout=90)
        broker_pid = json.loads((data / "running.json").read_text())["broker_pid"]
        process.send_signal(signal.SIGINT)
        process.wait(60)
    assert process.returncode == 0
    assert gone(broker_pid)
    assert (data / "kafka" / "node-1" / "meta.properties").exists()

    with up(data, port, "--broker", "kafka") as again:
        second = [create(base, lapas)["id"] for _ in range(10)]
        wait_for(lambda: all(visible(base, coordinator, r) for r in first + second), timeout=90)
        bootstrap = json.loads((data / "running.json").read_text())["broker"]
        settings = CoreSettings(_env_file=None, kafka_bootstrap=bootstrap)  # type: ignore[call-arg]
        records = read_topic(settings, settings.topics.referral_events, expected=61, timeout=15)
        cli(data, "audit", "replay", "--idle-timeout", "20")  # exit 0: the log is complete and clean
        again.send_signal(signal.SIGINT)
        again.wait(60)
    assert again.returncode == 0
    logged = (tmp_path / f"up-{port}.log").read_text()
    assert "reading it again from offset 0" not in logged  # no consumer started over after a restart
    assert "republishing everything" not in logged  # and the relay republished nothing
    event_ids = [dict(record.headers)["event_id"] for record in records]
    assert len(records) == 60  # 50 creates and 10 accepts, each once: nothing republished after the restart
    assert len(set(event_ids)) == 60


def test_up_with_postgres_keeps_every_service_in_the_data_dir_and_the_cli_finds_it(reachable_dir: Path) -> None:
    data, port = reachable_dir / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    with up(data, port, "--postgres") as process:
        running = json.loads((data / "running.json").read_text())
        assert set(running["databases"]) == {"referral", "tracker", "notifier"}
        assert oct((data / "running.json").stat().st_mode & 0o777) == "0o600"  # the URLs hold a password
        cli(data, "agency", "add", "LAPAS-CIPINANG", "--name", "Lapas", "--kind", "corrections", "--region", "31.75")
        cli(data, "agency", "add", "BAPAS-JAKTIM", "--name", "Bapas", "--kind", "corrections", "--region", "31.75")
        lapas = cli(data, "credentials", "issue", "--agency", "LAPAS-CIPINANG")
        coordinator = json.loads((data / "credentials.json").read_text())["coordinator"]
        created = create(base, lapas)
        wait_for(lambda: visible(base, coordinator, created["id"]))
        process.send_signal(signal.SIGINT)
        process.wait(60)
    assert process.returncode == 0
    assert gone(running["postgres_pid"])
    assert not (data / "referral.db").exists()

    refused = subprocess.run(
        [*RUJUKAN, "up", "--data-dir", str(data), "--port", str(port)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert "keeps its databases in PostgreSQL: run rujukan up --postgres on it" in refused.stderr
    assert "Traceback" not in refused.stderr

    with up(data, port, "--postgres") as again:
        answer = httpx.get(f"{base}/v1/referrals/{created['id']}", headers={"Authorization": f"Bearer {lapas}"})
        assert answer.status_code == 200
        assert answer.json()["subject"]["full_name"] == "Budi Contoh"
        again.send_signal(signal.SIGINT)
        again.wait(60)
    assert again.returncode == 0
