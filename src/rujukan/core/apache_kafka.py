"""Apache Kafka on this machine: one or three KRaft nodes on loopback, from the jars of ``kafka_install``.

:class:`LocalKafka` runs nodes from those jars, each a combined
broker and controller (KRaft, a static quorum of every node), listening on loopback only, with its log in
``<directory>/node-<id>/``: the log survives a restart. A cluster's id and ports are kept in
``<directory>/cluster.json``, and storage is formatted on the first start only.

Ports: node ``i`` (0-based) of ``n`` listens for clients on ``port + i`` and for the quorum on
``port + n + i``; ``port=0`` picks free ports on the first start (and keeps them while they stay free).

The settings of each node and the java command line are in :mod:`rujukan.core.kafka_settings`.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
import uuid
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from rujukan.core.broker import free_port, pdeathsig_hook, port_in_use, terminate
from rujukan.core.errors import BrokerError
from rujukan.core.kafka_install import is_installed, kafka_home, pinned_version, require_java
from rujukan.core.kafka_settings import java_command, node_settings, properties, topic_replication

READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"


# -- the nodes ---------------------------------------------------------------------------------------------
@dataclass
class _Node:
    index: int
    broker_port: int
    controller_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def node_id(self) -> int:
        return self.index + 1


class LocalKafka:
    """One or more Apache Kafka nodes in ``directory``. Usable as a context manager."""

    def __init__(
        self,
        directory: Path,
        *,
        nodes: int = 1,
        port: int = 0,
        host: str = "127.0.0.1",
        supervised: bool = False,
        heap_mb: int = 384,
        home: Path | None = None,
    ) -> None:
        if nodes < 1:
            raise BrokerError("a Kafka cluster needs at least one node")
        self.directory = directory.resolve()
        self.host = host
        self.nodes = nodes
        self._port = port
        self._supervised = supervised
        self._heap_mb = heap_mb
        self._home = home
        self._nodes: list[_Node] = []
        self._cluster_id = ""

    # -- what clients need -------------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return ",".join(f"{self.host}:{node.broker_port}" for node in self._nodes)

    @property
    def replication(self) -> tuple[int, int]:
        return topic_replication(self.nodes)

    @property
    def pid(self) -> int | None:
        """The first node's process id (for one node: the broker's)."""
        return self.node_pid(0)

    def node_pid(self, index: int) -> int | None:
        process = self._nodes[index].process if index < len(self._nodes) else None
        return process.pid if process is not None and process.poll() is None else None

    def node_log(self, index: int) -> Path:
        return self.directory / f"node-{index + 1}.log"

    def is_running(self) -> bool:
        """Every node runs."""
        return bool(self._nodes) and all(self.node_pid(n.index) is not None for n in self._nodes)

    def running_nodes(self) -> list[int]:
        return [n.index for n in self._nodes if self.node_pid(n.index) is not None]

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self, *, timeout: float = READY_TIMEOUT_S) -> LocalKafka:
        """Start every node that is not running and wait until the cluster answers with all of them."""
        require_java()
        home = self._home or kafka_home()
        if not is_installed(home):
            raise BrokerError(f"Apache Kafka {pinned_version()} is not installed; run: rujukan kafka install")
        self._prepare()
        self._format([n for n in self._nodes if not self._formatted(n)], home)
        for node in self._nodes:
            if self.node_pid(node.index) is None:
                self._spawn(node, home)
        self.wait_ready(timeout=timeout)
        return self

    def start_node(self, index: int, *, timeout: float = READY_TIMEOUT_S) -> None:
        """Start one stopped node again and wait until the cluster has every running node."""
        if self.node_pid(index) is None:
            self._spawn(self._nodes[index], self._home or kafka_home())
        self.wait_ready(timeout=timeout)

    def stop_node(self, index: int, *, kill: bool = False, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM (a controlled shutdown: leadership moves first) or, with ``kill``, SIGKILL."""
        terminate([self._nodes[index].process], signal.SIGKILL if kill else signal.SIGTERM, timeout=timeout)
        self._nodes[index].process = None

    def stop(self, *, timeout: float = STOP_TIMEOUT_S) -> None:
        terminate([n.process for n in self._nodes], signal.SIGTERM, timeout=timeout)
        for node in self._nodes:
            node.process = None

    def kill(self) -> None:
        """SIGKILL every node, as a crash of the machine would."""
        terminate([n.process for n in self._nodes], signal.SIGKILL, timeout=STOP_TIMEOUT_S)
        for node in self._nodes:
            node.process = None

    def restart(self, *, timeout: float = READY_TIMEOUT_S) -> LocalKafka:
        """Stop and start every node on the same ports; the log stays."""
        self.stop()
        return self.start(timeout=timeout)

    def wait_ready(self, *, timeout: float = READY_TIMEOUT_S) -> None:
        """Until every running node is a registered, unfenced broker and the quorum has a leader."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            running = self.running_nodes()
            for node in self._nodes:
                process = node.process
                if process is not None and process.poll() is not None:
                    node.process = None
                    raise BrokerError(f"Kafka node {node.node_id} exited (log: {self.node_log(node.index)})")
            if running and self._cluster_answers({self._nodes[i].node_id for i in running}):
                return
            time.sleep(0.2)
        raise BrokerError(f"Kafka on {self.bootstrap} not ready after {timeout:.0f} s (logs in {self.directory})")

    def active_controller(self) -> int | None:
        """The index of the node that leads the metadata quorum (the active controller), if known."""
        with _admin(self._running_bootstrap()) as admin:
            quorum = admin.describe_metadata_quorum()
        leader = quorum["topics"][0]["partitions"][0]["leader_id"]
        return int(leader) - 1 if leader is not None and leader >= 1 else None

    def _running_bootstrap(self) -> str:
        return ",".join(f"{self.host}:{self._nodes[i].broker_port}" for i in self.running_nodes())

    def _cluster_answers(self, expected: set[int]) -> bool:
        with contextlib.suppress(KafkaError, OSError, KeyError, IndexError, TypeError):
            bootstrap = self._running_bootstrap()
            if not all(port_in_use(self.host, int(a.rsplit(":", 1)[1])) for a in bootstrap.split(",")):
                return False  # TCP first: kafka-python leaks a socket per refused connection
            with _admin(bootstrap) as admin:
                brokers = admin.describe_cluster()["brokers"]
                registered = {b["broker_id"] for b in brokers if not b.get("is_fenced")}
                return expected <= registered and self.active_controller() is not None
        return False

    # -- files -------------------------------------------------------------------------------------------
    def _prepare(self) -> None:
        """Cluster id and ports from cluster.json (made on the first start), and each node's config."""
        self.directory.mkdir(parents=True, exist_ok=True)
        meta_path = self.directory / "cluster.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        if meta.get("nodes", self.nodes) != self.nodes:
            raise BrokerError(f"{self.directory} holds a cluster of {meta['nodes']} nodes, not {self.nodes}")
        self._cluster_id = meta.get("cluster_id") or urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not self._nodes:
            ports = self._ports(meta.get("ports"))
            self._nodes = [_Node(i, ports[i], ports[self.nodes + i]) for i in range(self.nodes)]
        meta = {"cluster_id": self._cluster_id, "nodes": self.nodes, "ports": self._all_ports()}
        meta_path.write_text(json.dumps(meta, indent=2))
        for node in self._nodes:
            self._config_path(node).write_text(properties(self._node_settings(node)))

    def _ports(self, stored: list[int] | None) -> list[int]:
        wanted = 2 * self.nodes
        if self._port:
            return [self._port + i for i in range(wanted)]
        if stored and len(stored) == wanted and not any(port_in_use(self.host, p) for p in stored):
            return list(stored)
        ports: list[int] = []
        while len(ports) < wanted:
            candidate = free_port(self.host)
            if candidate not in ports:
                ports.append(candidate)
        return ports

    def _all_ports(self) -> list[int]:
        return [n.broker_port for n in self._nodes] + [n.controller_port for n in self._nodes]

    def _config_path(self, node: _Node) -> Path:
        return self.directory / f"node-{node.node_id}.properties"

    def _node_settings(self, node: _Node) -> dict[str, str]:
        voters = ",".join(f"{n.node_id}@{self.host}:{n.controller_port}" for n in self._nodes)
        return node_settings(
            node_id=node.node_id,
            host=self.host,
            ports=(node.broker_port, node.controller_port),
            voters=voters,
            log_dir=self.directory / f"node-{node.node_id}",
            nodes=self.nodes,
        )

    def _spawn(self, node: _Node, home: Path) -> None:
        if port_in_use(self.host, node.broker_port) or port_in_use(self.host, node.controller_port):
            raise BrokerError(
                f"port {node.broker_port} or {node.controller_port} on {self.host} is already in use (Kafka node"
                f" {node.node_id})"
            )
        config = self._config_path(node)
        with self.node_log(node.index).open("ab") as log:
            node.process = subprocess.Popen(  # noqa: S603 - java with fixed arguments, no shell
                [*self._java(home), MAIN_CLASS, str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=self._supervised,
                preexec_fn=pdeathsig_hook(signal.SIGTERM) if self._supervised else None,
            )

    def _formatted(self, node: _Node) -> bool:
        return (self.directory / f"node-{node.node_id}" / "meta.properties").exists()

    def _format(self, nodes: list[_Node], home: Path) -> None:
        """Format the storage of ``nodes`` (first start only), side by side."""
        runs = []
        for node in nodes:
            command = [*self._java(home, heap_mb=128), STORAGE_TOOL, "format"]
            command += [f"--cluster-id={self._cluster_id}", f"--config={self._config_path(node)}"]
            log = self.node_log(node.index).open("wb")
            runs.append((node, log, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)))  # noqa: S603
        failed = []
        for node, log, process in runs:
            if process.wait(READY_TIMEOUT_S) != 0:
                failed.append(node)
            log.close()
        if failed:
            raise BrokerError(
                f"formatting Kafka node {failed[0].node_id} failed (log: {self.node_log(failed[0].index)})"
            )

    def _java(self, home: Path, *, heap_mb: int | None = None) -> list[str]:
        return java_command(home, heap_mb=heap_mb or self._heap_mb)

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextlib.contextmanager
def _admin(bootstrap: str) -> Iterator[KafkaAdminClient]:
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap.split(","),
        request_timeout_ms=3000,
        connections_max_idle_ms=10_000,
        client_id="rujukan-probe",
    )
    try:
        yield admin
    finally:
        admin.close()
