"""``rujukan kafka install|run``: Apache Kafka (the pinned version, fetched by Maven) on this machine."""

from __future__ import annotations

from typing import Annotated

import typer

from rujukan.cli.data_dir import DataDir
from rujukan.cli.foreground import run_broker_until_stopped
from rujukan.cli.output import err, fail
from rujukan.core.apache_kafka import LocalKafka
from rujukan.core.kafka_install import install, kafka_home, pinned_version
from rujukan.core.settings import CoreSettings

kafka_app = typer.Typer(
    help="Apache Kafka on this machine (needs Java 17+ and Maven to install).", no_args_is_help=True
)


@kafka_app.command("install")
def install_command() -> None:
    """Fetch the pinned Apache Kafka jars with Maven (into RUJUKAN_KAFKA_HOME or ~/.cache/rujukan)."""
    err.print(f"fetching Apache Kafka {pinned_version()} with Maven into {kafka_home()} ...", markup=False)
    home = install()
    err.print(f"Apache Kafka {pinned_version()} is installed in {home}", markup=False)
    typer.echo(str(home))


@kafka_app.command("run")
def run_command(
    data_dir: DataDir = None,
    nodes: Annotated[int, typer.Option(help="1, or 3 for a real three-node quorum.", min=1, max=3)] = 1,
    port: Annotated[
        int, typer.Option(help="Client port of the first node (node i: port+i; quorum: port+nodes+i).", min=1024)
    ] = 9092,
) -> None:
    """Run Apache Kafka in KRaft mode on loopback in the foreground; its log stays in <data dir>/kafka."""
    if nodes == 2:
        fail("a quorum of 2 survives no failure: run 1 node or 3")
    directory = (data_dir or CoreSettings().data_dir).resolve() / "kafka"
    kafka = LocalKafka(directory, nodes=nodes, port=port, supervised=True)
    err.print(f"starting Apache Kafka {pinned_version()} ({nodes} node(s)) in {directory} ...", markup=False)
    run_broker_until_stopped(kafka, name="Apache Kafka", logs=str(directory))
