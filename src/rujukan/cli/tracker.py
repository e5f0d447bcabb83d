"""``rujukan tracker serve``: the coordinator API, dashboard and (in process) the consumer."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from rujukan.cli.data_dir import DataDir, tracker_settings
from rujukan.cli.output import configure_logging
from rujukan.tracker.api.app import create_app

tracker_app = typer.Typer(help="The tracker (coordinator API and dashboard).", no_args_is_help=True)


@tracker_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8001,
    data_dir: DataDir = None,
) -> None:
    """Serve the coordinator API and run the consumer (unless RUJUKAN_CONSUMER_IN_PROCESS=false)."""
    configure_logging()
    uvicorn.run(create_app(tracker_settings(data_dir)), host=host, port=port, log_level="info")
