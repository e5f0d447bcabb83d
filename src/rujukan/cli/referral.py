"""``rujukan referral serve``, ``rujukan relay run`` and ``rujukan subject ...``."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from rujukan.cli.data_dir import DataDir, referral_context, referral_settings
from rujukan.cli.foreground import until_stopped
from rujukan.cli.output import configure_logging, err
from rujukan.referral.api.app import create_app
from rujukan.referral.relay import referral_loops
from rujukan.referral.subjects import erase_everywhere, set_legal_hold

referral_app = typer.Typer(help="The referral service (agency API).", no_args_is_help=True)
relay_app = typer.Typer(help="The outbox relay.", no_args_is_help=True)
subject_app = typer.Typer(
    help="Subjects (by the internal id the tracker shows): erasure, legal holds.", no_args_is_help=True
)
Host = Annotated[str, typer.Option(help="Address to listen on.")]
Port = Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)]


@referral_app.command("serve")
def serve(host: Host = "127.0.0.1", port: Port = 8000, data_dir: DataDir = None) -> None:
    """Serve the agency API (and, unless RUJUKAN_RELAY_IN_PROCESS=false, the relay)."""
    settings = referral_settings(data_dir)
    configure_logging()
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@relay_app.command("run")
def run_relay(data_dir: DataDir = None) -> None:
    """Publish the referral event store to Kafka until Ctrl-C or SIGTERM."""
    settings = referral_settings(data_dir)
    configure_logging()
    err.print(f"relay publishing to {settings.topics.referral_events} on {settings.kafka_bootstrap}", markup=False)
    with until_stopped() as stop, referral_context(data_dir) as ctx:
        loops = referral_loops(ctx, settings).start()
        stop.wait()
        loops.stop()
    err.print("relay stopped", markup=False)


@subject_app.command("hold")
def hold(subject_id: Annotated[str, typer.Argument()], data_dir: DataDir = None) -> None:
    """Place a legal hold: the subject cannot be erased until it is released."""
    with referral_context(data_dir) as ctx:
        set_legal_hold(ctx, subject_id=subject_id, active=True)
    err.print(f"legal hold placed on {subject_id}", markup=False)


@subject_app.command("release")
def release(subject_id: Annotated[str, typer.Argument()], data_dir: DataDir = None) -> None:
    """Lift a legal hold."""
    with referral_context(data_dir) as ctx:
        set_legal_hold(ctx, subject_id=subject_id, active=False)
    err.print(f"legal hold lifted on {subject_id}", markup=False)


@subject_app.command("erase")
def erase(
    subject_id: Annotated[str, typer.Argument(help="The subject's internal id (as the tracker shows it).")],
    person: Annotated[
        bool, typer.Option("--person", help="Also every other agency's subject of the same person.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Erase a subject system-wide (crypto-shredding), whichever agency controls it; with --person, every
    subject of that person. Agencies erase their own through the API."""
    with referral_context(data_dir) as ctx:
        erased = erase_everywhere(ctx, subject_id=subject_id, person=person)
    err.print(f"erased {len(erased)} subject(s): {', '.join(erased)}", markup=False)
