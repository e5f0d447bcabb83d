"""The system under fault: every service as its own process, as production runs them, on the session's
kind of broker (embedded, one Apache Kafka node, or a three-node cluster: ``RUJUKAN_TEST_BROKER``) and
three PostgreSQL databases; the harness kills (SIGKILL) and restarts any of them, and makes PostgreSQL
refuse connections for a while.

Processes: ``referral serve`` (the agency API, relay out of process), ``relay run``, ``tracker serve``
(coordinator API and the tracker consumer), ``notifier run`` (consumers, dispatcher, subscription API),
each ``REPLICAS`` times (``RUJUKAN_FAULT_REPLICAS``, default 2): the second instance of a role is
``<role>-2``. Webhooks go to a recording receiver on loopback in the test process.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx

from rujukan.core.broker import Broker, free_port
from tests.brokers import own_broker, replication
from tests.databases import database_url

RUJUKAN = [sys.executable, "-m", "rujukan.cli.main"]
START_TIMEOUT_S = 60.0
REPLICAS = int(os.environ.get("RUJUKAN_FAULT_REPLICAS", "2"))
ROLES = ("referral", "relay", "tracker", "notifier")


@dataclass
class Service:
    """One service process: started, killed and restarted on the same port, settings and log."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    health_url: str | None = None
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    unexpected_exits: list[int] = field(default_factory=list)

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"\n==== start {self.starts + 1}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [*RUJUKAN, *self.args], env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.starts += 1
        if self.health_url is not None:
            self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            self._not_exited()
            try:
                if httpx.get(self.health_url or "", timeout=2, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not healthy after {START_TIMEOUT_S:.0f} s:\n{self.tail()}")

    def _not_exited(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.process.returncode} while starting:\n{self.tail()}")

    def check_alive(self) -> None:
        """Record an exit nobody asked for (the harness restarts it, the checker reports it)."""
        if self.process is not None and self.process.poll() is not None:
            self.unexpected_exits.append(self.process.returncode)
            self.start()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def wait_until_logged(self, *lines: str) -> None:
        """Until the log since the last start holds one of ``lines`` (an instance without a health URL, such
        as a relay, is up once its loops say so)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            self._not_exited()
            if any(line in self.log_since_start() for line in lines):
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not log any of {lines} after {START_TIMEOUT_S:.0f} s:\n{self.tail()}")

    def log_since_start(self) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text.rsplit(f"==== start {self.starts}\n", 1)[-1]

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Cluster:
    work: Path
    broker: Broker
    urls: dict[str, str]  # database URLs: referral, tracker, notifier
    master_key: str
    signing_key: str  # one for every referral service and relay: they sign and check one log
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def referral_api(self) -> str:
        return str(self.services["referral"].health_url).removesuffix("/healthz")

    @property
    def referral_apis(self) -> list[str]:
        """Every referral API instance: the load spreads over them, as a proxy would."""
        return [str(s.health_url).removesuffix("/healthz") for s in self.instances("referral")]

    def instances(self, role: str) -> list[Service]:
        return [s for name, s in self.services.items() if name == role or name.startswith(f"{role}-")]

    def holder(self, lease: str) -> Service | None:
        """The instance that holds ``lease`` now (it logged taking it since its last start and not losing it)."""
        for service in self.instances(ROLE_OF_LEASE[lease]):
            log = service.log_since_start()
            taken, lost = log.rfind(f"{lease}: holding the lease"), log.rfind(f"{lease}: lost the lease")
            if taken > lost and service.process is not None and service.process.poll() is None:
                return service
        return None

    @property
    def tracker_api(self) -> str:
        return str(self.services["tracker"].health_url).removesuffix("/healthz")

    @property
    def notifier_api(self) -> str:
        return str(self.services["notifier"].health_url).removesuffix("/healthz")

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("RUJUKAN_")}
        replication_factor, min_insync = replication()
        return base | {
            "RUJUKAN_KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "RUJUKAN_TOPICS__REPLICATION_FACTOR": str(replication_factor),
            "RUJUKAN_TOPICS__MIN_INSYNC_REPLICAS": str(min_insync),
            "RUJUKAN_REFERRAL_DATABASE_URL": self.urls["referral"],
            "RUJUKAN_TRACKER_DATABASE_URL": self.urls["tracker"],
            "RUJUKAN_NOTIFIER_DATABASE_URL": self.urls["notifier"],
            "RUJUKAN_MASTER_KEY": self.master_key,
            "RUJUKAN_SIGNING_KEY": self.signing_key,
            "RUJUKAN_RELAY_IN_PROCESS": "false",
            "RUJUKAN_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.0/8"]',
            "RUJUKAN_WEBHOOK_ALLOW_HTTP": "true",
            "RUJUKAN_WEBHOOK_TIMEOUT_S": "5",
            "RUJUKAN_WEBHOOK_FIRST_RETRY_S": "0.5",
            "RUJUKAN_WEBHOOK_MAX_RETRY_S": "2",
        }

    def add(self, name: str, *args: str, port: int | None = None) -> Service:
        data_dir = self.work / name
        data_dir.mkdir(parents=True, exist_ok=True)
        argv = [*args, "--data-dir", str(data_dir)]
        if port is not None:
            argv += ["--port", str(port)]
        env = self.env()
        if name.startswith("notifier"):
            env["RUJUKAN_REFERRAL_URL"] = self.referral_api
        health = f"http://127.0.0.1:{port}/healthz" if port is not None else None
        service = Service(name, argv, env, self.work / f"{name}.log", health_url=health)
        self.services[name] = service
        service.start()
        return service

    def check_alive(self) -> None:
        for service in self.services.values():
            service.check_alive()

    def unexpected_exits(self) -> dict[str, list[int]]:
        return {name: s.unexpected_exits for name, s in self.services.items() if s.unexpected_exits}

    def logs(self) -> str:
        return "\n".join(f"---- {name}\n{s.tail()}" for name, s in self.services.items())


@contextmanager
def cluster(work: Path) -> Iterator[Cluster]:
    with ExitStack() as stack:
        urls = {name: stack.enter_context(database_url("postgresql", work / name)) for name in SERVICES_WITH_DB}
        broker = stack.enter_context(own_broker(work))
        master_key, signing_key = (base64.b64encode(secrets.token_bytes(32)).decode() for _ in range(2))
        running = Cluster(work, broker, urls, master_key, signing_key)
        try:
            for replica in range(1, REPLICAS + 1):
                suffix = "" if replica == 1 else f"-{replica}"
                running.add(f"referral{suffix}", "referral", "serve", port=free_port())
                running.add(f"relay{suffix}", "relay", "run")
                running.add(f"tracker{suffix}", "tracker", "serve", port=free_port())
                running.add(f"notifier{suffix}", "notifier", "run", port=free_port())
            yield running
        finally:
            for service in reversed(running.services.values()):
                service.stop()


SERVICES_WITH_DB = ("referral", "tracker", "notifier")
ROLE_OF_LEASE = {"relay": "relay", "sla-publisher": "tracker", "notifier-dispatcher": "notifier"}
