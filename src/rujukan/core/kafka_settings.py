"""The settings of a local Apache Kafka node, and the java command line that runs it (pure).

:data:`BROKER_SETTINGS` and :func:`replication_settings` are the broker settings of every tested node;
the production compose file sets the same (a test checks them equal).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rujukan.core.kafka_install import deploy_dir

# Every node's broker settings, here and in docker-compose.yml: the referral log is the audit trail
# (kept for ever), topics are created by Rujukan (or the compose's topics job) with explicit settings,
# and a consumer group forms at once.
BROKER_SETTINGS: dict[str, str] = {
    "auto.create.topics.enable": "false",
    "log.retention.hours": "-1",
    "group.initial.rebalance.delay.ms": "0",
}


def replication_settings(nodes: int) -> dict[str, str]:
    """Replication of the internal topics for a cluster of ``nodes``: three copies, two in sync, when it can."""
    copies = min(nodes, 3)
    in_sync = 2 if copies >= 3 else 1
    return {
        "offsets.topic.replication.factor": str(copies),
        "transaction.state.log.replication.factor": str(copies),
        "transaction.state.log.min.isr": str(in_sync),
        "default.replication.factor": str(copies),
        "min.insync.replicas": str(in_sync),
    }


def topic_replication(nodes: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) of Rujukan's topics on a cluster of ``nodes``."""
    settings = replication_settings(nodes)
    return int(settings["default.replication.factor"]), int(settings["min.insync.replicas"])


def node_settings(
    *, node_id: int, host: str, ports: tuple[int, int], voters: str, log_dir: Path, nodes: int
) -> dict[str, str]:
    """One combined broker and controller of a static KRaft quorum (``voters``), listening on loopback:
    ``ports`` is (clients, quorum)."""
    broker_port, controller_port = ports
    return {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{host}:{broker_port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{broker_port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": "3",
        # a small machine: few threads per node
        "num.network.threads": "2",
        "num.io.threads": "4",
        "background.threads": "4",
        "log.cleaner.enable": "false",
        **BROKER_SETTINGS,
        **replication_settings(nodes),
    }


def properties(settings: dict[str, str]) -> str:
    """A Java properties file of ``settings``."""
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def java_command(home: Path, *, heap_mb: int) -> list[str]:
    """java with a small heap and a quick start, and Kafka's jars under ``home`` on the class path."""
    return [
        shutil.which("java") or "java",
        f"-Xmx{heap_mb}m",
        f"-Xms{min(heap_mb, 128)}m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:TieredStopAtLevel=1",  # C1 only: a fraction of the JIT's CPU at start, ample for our loads
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={deploy_dir() / 'log4j2.yaml'}",
        "-cp",
        str(home / "libs" / "*"),
    ]
