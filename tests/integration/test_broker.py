"""The embedded broker handle and ``rujukan broker``, against the real Tansu binary (whatever broker the
session runs on: these tests start their own)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rujukan.core.broker import EmbeddedBroker, port_in_use
from rujukan.core.errors import BrokerPortInUse
from rujukan.core.kafka.topics import ensure_topics, make_admin, topic_id
from rujukan.core.settings import CoreSettings
from tests.processes import gone

pytestmark = pytest.mark.integration

RUJUKAN = Path(sys.executable).with_name("rujukan")


def test_start_answers_metadata_and_stop_leaves_no_process(tmp_path: Path) -> None:
    broker = EmbeddedBroker(log_path=tmp_path / "b.log").start()
    pid = broker.pid
    assert pid is not None
    assert port_in_use(broker.host, broker.port)
    broker.stop()
    assert gone(pid)
    assert not port_in_use(broker.host, broker.port)


def test_a_port_with_a_listener_is_refused_before_starting(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(BrokerPortInUse, match=f"port {port} on 127.0.0.1 is already in use"):
            EmbeddedBroker(port=port, log_path=tmp_path / "b.log").start()


def test_a_second_broker_on_the_same_port_is_refused(tmp_path: Path) -> None:
    with EmbeddedBroker(log_path=tmp_path / "first.log") as broker:
        with pytest.raises(BrokerPortInUse):
            EmbeddedBroker(port=broker.port, log_path=tmp_path / "b.log").start()
        assert broker.is_running()


def test_restart_loses_the_log_and_topics_come_back_with_a_new_id(tmp_path: Path) -> None:
    with EmbeddedBroker(log_path=tmp_path / "b.log") as broker:
        settings = CoreSettings(_env_file=None, kafka_bootstrap=broker.bootstrap)  # type: ignore[call-arg]
        admin = make_admin(settings)
        ensure_topics(admin, settings)
        first = topic_id(admin, settings.topics.referral_events)
        assert first is not None
        ensure_topics(admin, settings)  # idempotent
        assert topic_id(admin, settings.topics.referral_events) == first
        admin.close()

        broker.restart()
        admin = make_admin(settings)
        assert topic_id(admin, settings.topics.referral_events) is None
        ensure_topics(admin, settings)
        second = topic_id(admin, settings.topics.referral_events)
        admin.close()
    assert second is not None
    assert second != first


def _start_cli_broker(port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(RUJUKAN), "broker", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_broker_runs_in_the_foreground_and_stops_on_sigint_and_sigterm() -> None:
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        process = _start_cli_broker(port)
        deadline = time.monotonic() + 20
        while not port_in_use("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert port_in_use("127.0.0.1", port)
        process.send_signal(stop_signal)
        _, stderr = process.communicate(timeout=15)
        assert process.returncode == 0, stderr
        assert f"listening on 127.0.0.1:{port}" in stderr
        assert "stopped" in stderr
        assert not port_in_use("127.0.0.1", port)


def test_cli_broker_says_when_the_port_is_taken() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        process = _start_cli_broker(port)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in stderr
    assert "Traceback" not in stderr
