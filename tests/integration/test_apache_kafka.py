"""``rujukan kafka install|run`` and the local Apache Kafka handle, against the real jars (fetched by Maven
once; whatever broker the session runs on, these tests start their own)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from rujukan.core.apache_kafka import LocalKafka
from rujukan.core.broker import free_port, port_in_use
from rujukan.core.kafka.topics import ensure_topics, make_admin, topic_id
from rujukan.core.kafka_install import install, kafka_home, pinned_version
from rujukan.core.settings import CoreSettings
from tests.kafka_helpers import publish_events, read_topic
from tests.processes import gone
from tests.tracker.journeys import Journey

pytestmark = pytest.mark.integration
RUJUKAN = [sys.executable, "-m", "rujukan.cli.main"]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RUJUKAN, *args], capture_output=True, text=True, timeout=300, env=env, check=False)


def path_with_only(tmp_path: Path, *programs: str) -> dict[str, str]:
    """The environment with a PATH that holds only ``programs`` (linked from the real PATH)."""
    bin_dir = tmp_path / ("bin-" + "-".join(programs))
    bin_dir.mkdir()
    for program in programs:
        found = shutil.which(program)
        assert found is not None, program
        (bin_dir / program).symlink_to(found)
    return {**os.environ, "PATH": str(bin_dir)}


def test_install_says_in_one_line_what_is_missing(tmp_path: Path) -> None:
    no_java = run_cli("kafka", "install", env=path_with_only(tmp_path))
    assert no_java.returncode == 1
    assert "needs Java 17 or newer, and no java is on the PATH" in no_java.stderr
    assert "Traceback" not in no_java.stderr

    no_maven = run_cli(
        "kafka", "install", env={**path_with_only(tmp_path, "java"), "RUJUKAN_KAFKA_HOME": str(tmp_path / "home")}
    )
    assert no_maven.returncode == 1
    assert "needs Maven (mvn), and none is on the PATH" in no_maven.stderr
    assert "Traceback" not in no_maven.stderr


def test_install_fetches_the_pinned_jars_once_and_prints_where() -> None:
    done = run_cli("kafka", "install")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(kafka_home().resolve())
    assert (kafka_home() / "libs" / f"kafka_2.13-{pinned_version()}.jar").is_file()


def test_kafka_run_keeps_its_log_across_a_restart_and_stops_on_sigint(tmp_path: Path) -> None:
    install()
    port = free_port()
    while port_in_use("127.0.0.1", port + 1):
        port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    settings = CoreSettings(_env_file=None, kafka_bootstrap=bootstrap)  # type: ignore[call-arg]
    ids = []
    events = Journey().then("ReferralAccepted", hours=1).events
    for round_ in range(2):
        process = subprocess.Popen(
            [*RUJUKAN, "kafka", "run", "--data-dir", str(tmp_path), "--port", str(port)],
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 90
        while not port_in_use("127.0.0.1", port) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        admin = _admin_when_answering(settings, deadline, process, tmp_path)  # listening, then answering
        ensure_topics(admin, settings)
        ids.append(topic_id(admin, settings.topics.referral_events))
        admin.close()
        if round_ == 0:
            publish_events(settings, events)
        assert len(read_topic(settings, settings.topics.referral_events, expected=len(events))) == len(events)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        assert f"Apache Kafka listening on {bootstrap}" in stderr
        assert "Apache Kafka stopped" in stderr
        assert not port_in_use("127.0.0.1", port)
    assert ids[0] is not None
    assert ids[0] == ids[1]  # the same topic, its messages kept: no log reset on Apache Kafka


def _admin_when_answering(
    settings: CoreSettings, deadline: float, process: subprocess.Popen[str], data: Path
) -> KafkaAdminClient:
    """An admin client once the broker answers; a ``kafka run`` that ended first fails the test at once, with
    what it and its node said (in one CI run the broker refused connections until the deadline, and nothing
    said why)."""
    while True:
        if process.poll() is not None:
            _, stderr = process.communicate(timeout=10)
            logs = "".join(
                f"\n--- {log.name}\n{log.read_text(errors='replace')[-1500:]}"
                for log in (data / "kafka").glob("node-*.log")
            )
            pytest.fail(f"rujukan kafka run ended with {process.returncode}:\n{stderr[-2000:]}{logs}")
        try:
            return make_admin(settings)
        except KafkaError:
            if time.monotonic() > deadline:
                raise


def test_a_three_node_cluster_elects_a_new_controller_when_the_active_one_is_killed(tmp_path: Path) -> None:
    install()
    with LocalKafka(tmp_path / "cluster", nodes=3) as cluster:
        assert len(cluster.bootstrap.split(",")) == 3
        controller = cluster.active_controller()
        assert controller is not None
        pid = cluster.node_pid(controller)
        assert pid is not None
        cluster.stop_node(controller, kill=True)
        assert gone(pid)
        deadline = time.monotonic() + 60
        elected = None
        while time.monotonic() < deadline and elected in (None, controller):
            time.sleep(0.5)
            try:
                elected = cluster.active_controller()
            except Exception:
                elected = None
        assert elected not in (None, controller)
        cluster.start_node(controller)
        assert cluster.is_running()
