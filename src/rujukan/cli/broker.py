"""``rujukan broker``: the embedded Kafka-compatible broker in the foreground."""

from __future__ import annotations

from typing import Annotated

import typer

from rujukan.cli.foreground import run_broker_until_stopped
from rujukan.core.broker import EmbeddedBroker


def run_broker(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Kafka port to listen on (0 picks a free one).", min=0, max=65535)] = 9092,
) -> None:
    """Run the embedded broker (in memory: everything is lost when it stops). Ctrl-C stops it."""
    broker = EmbeddedBroker(host=host, port=port)
    run_broker_until_stopped(broker, name="embedded broker", logs=str(broker.log_path))
