"""What ``rujukan up`` runs beside its services: a broker and, with ``--postgres``, PostgreSQL; supervised.

Brokers: the embedded one (default; in memory, so the relay refills it from the event store after a
restart), a local Apache Kafka node whose log lives in ``<data dir>/kafka`` (kept across restarts), or
none when ``--kafka-bootstrap`` names an existing cluster. PostgreSQL: SQLite files by default, or an
embedded PostgreSQL in ``<data dir>/postgres`` holding one database per service.

A data dir keeps its databases where its first run put them: ``up`` without ``--postgres`` on a data dir
that holds a PostgreSQL cluster (or the other way round) would show an empty system, so it is refused.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from rujukan.core.apache_kafka import LocalKafka
from rujukan.core.broker import Broker, EmbeddedBroker
from rujukan.core.errors import BrokerError, RujukanError
from rujukan.core.kafka_install import is_installed, pinned_version
from rujukan.core.postgres import EmbeddedPostgres

log = logging.getLogger("rujukan.up")
SUPERVISE_S = 0.5
DATABASES = {"referral": "rujukan_referral", "tracker": "rujukan_tracker", "notifier": "rujukan_notifier"}


class BrokerKind(StrEnum):
    EMBEDDED = "embedded"
    KAFKA = "kafka"


class WrongDataDir(RujukanError):
    """The data dir keeps its databases elsewhere than this run asks for."""


@dataclass
class Backing:
    """The broker (None: an existing cluster) and PostgreSQL (None: SQLite files) of one ``up``."""

    bootstrap: str
    broker: Broker | None = None
    kind: str = "existing"
    postgres: EmbeddedPostgres | None = None
    databases: dict[str, str] = field(default_factory=dict)  # service -> URL; empty for SQLite

    def describe(self) -> str:
        if self.kind == BrokerKind.EMBEDDED:
            return f"{self.bootstrap} (embedded, in memory; refilled from the event store)"
        if self.kind == BrokerKind.KAFKA:
            return f"{self.bootstrap} (Apache Kafka {pinned_version()}, log kept in the data dir)"
        return f"{self.bootstrap} (an existing Kafka cluster)"

    def children(self) -> dict[str, Any]:
        """What runs as our child process, by name, for the supervisor and running.json."""
        found: dict[str, Any] = {}
        if self.broker is not None:
            found["broker"] = self.broker
        if self.postgres is not None:
            found["postgres"] = self.postgres
        return found

    def checks(self) -> dict[str, str]:
        """Readiness of what ``up`` runs beside the services: each child process runs."""
        return {name: "ok" if child.is_running() else "not running" for name, child in self.children().items()}

    def stop(self) -> None:
        """The broker first (the services have stopped), then PostgreSQL."""
        for child in self.children().values():
            with contextlib.suppress(RujukanError, OSError):
                child.stop()


def start_backing(
    data: Path, *, kind: BrokerKind, broker_port: int, kafka_bootstrap: str | None, postgres: bool
) -> Backing:
    _check_data_dir(data, postgres=postgres)
    backing = Backing(bootstrap=kafka_bootstrap or "")
    try:
        if postgres:
            backing.postgres = EmbeddedPostgres(data / "postgres", supervised=True).start()
            backing.databases = {name: backing.postgres.create_database(db) for name, db in DATABASES.items()}
        if kafka_bootstrap is None:
            backing.broker = _broker(data, kind, broker_port)
            backing.broker.start()
            backing.bootstrap, backing.kind = backing.broker.bootstrap, kind
    except BaseException:
        backing.stop()
        raise
    return backing


def _broker(data: Path, kind: BrokerKind, port: int) -> Broker:
    if kind == BrokerKind.EMBEDDED:
        return EmbeddedBroker(port=port, log_path=data / "broker.log", supervised=True)
    if not is_installed():
        raise BrokerError(f"Apache Kafka {pinned_version()} is not installed here; run: rujukan kafka install")
    return LocalKafka(data / "kafka", nodes=1, port=port, supervised=True)


def _check_data_dir(data: Path, *, postgres: bool) -> None:
    has_cluster = (data / "postgres" / "pgdata" / "PG_VERSION").exists()
    has_sqlite = (data / "referral.db").exists()
    if has_cluster and not postgres:
        raise WrongDataDir(f"{data} keeps its databases in PostgreSQL: run rujukan up --postgres on it")
    if has_sqlite and postgres:
        raise WrongDataDir(f"{data} keeps its databases in SQLite files: run rujukan up without --postgres on it")


class Worker(Protocol):
    """A worker process of ``up`` as the supervisor sees it (:class:`rujukan.cli.workers.WorkerProcess`)."""

    def start(self) -> None: ...

    def is_running(self) -> bool: ...

    def restart_due(self, now: float) -> bool: ...

    def exit_status(self) -> str: ...


def supervise(
    backing: Backing,
    stop: threading.Event,
    on_restart: Callable[[], None],
    workers: Mapping[str, Worker] | None = None,
) -> None:
    """Start the broker, PostgreSQL or a worker process again whenever one dies, until ``stop``."""
    while not stop.wait(SUPERVISE_S):
        for name, child in backing.children().items():
            if not child.is_running() and not stop.is_set():
                _restart(_label(backing, name), _consequence(backing, name), child.start, on_restart)
        for name, worker in (workers or {}).items():
            if not worker.is_running() and not stop.is_set() and worker.restart_due(time.monotonic()):
                label = f"the {name} worker"
                how = f" ({worker.exit_status()})"
                _restart(label + how, " (its loops go on from what the databases hold)", worker.start, on_restart)


def _restart(label: str, consequence: str, start: Callable[[], None], on_restart: Callable[[], None]) -> None:
    log.warning("%s stopped; starting it again%s", label, consequence)
    try:
        start()
    except Exception as exc:  # keep supervising: the next round tries again
        log.warning("%s did not start (%s); trying again", label, type(exc).__name__)
        return
    on_restart()


def _label(backing: Backing, name: str) -> str:
    if name == "postgres":
        return "PostgreSQL"
    return "the embedded broker" if backing.kind == BrokerKind.EMBEDDED else "Apache Kafka"


def _consequence(backing: Backing, name: str) -> str:
    if name == "broker" and backing.kind == BrokerKind.EMBEDDED:
        return " (the relay republishes the event store)"
    return " (its data is kept)"
