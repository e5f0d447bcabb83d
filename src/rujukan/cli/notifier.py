"""``rujukan notifier run|deliveries|redeliver`` and ``rujukan subscription set|rotate|list``."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
import uvicorn

from rujukan.cli.data_dir import DataDir, JsonFlag, notifier_database, notifier_settings
from rujukan.cli.output import configure_logging, err, fail
from rujukan.notifier.api.app import create_app
from rujukan.notifier.deliveries import failed_ids, list_deliveries, redeliver
from rujukan.notifier.retry import DeliveryStatus
from rujukan.notifier.subscriptions import (
    Owner,
    OwnerKind,
    SubscriptionView,
    list_subscriptions,
    rotate_secret,
    set_subscription,
)

notifier_app = typer.Typer(help="The notifier (signed webhooks to agencies).", no_args_is_help=True)
subscription_app = typer.Typer(help="Webhook subscriptions of agencies and coordinators.", no_args_is_help=True)
AgencyOpt = Annotated[str | None, typer.Option("--agency", help="Agency code.")]
CoordinatorOpt = Annotated[
    str | None, typer.Option("--coordinator", help="A coordinator's name (coordinators hear SLA breaches).")
]


@notifier_app.command("run")
def run(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8002,
    data_dir: DataDir = None,
) -> None:
    """Consume the log, send webhooks, and serve the agencies' subscription and delivery-log API."""
    configure_logging()
    uvicorn.run(create_app(notifier_settings(data_dir)), host=host, port=port, log_level="info")


@notifier_app.command("deliveries")
def deliveries(
    agency: AgencyOpt = None,
    status: Annotated[DeliveryStatus | None, typer.Option(help="Only deliveries in this state.")] = None,
    referral: Annotated[str | None, typer.Option(help="Only deliveries about this referral.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 50,
    as_json: JsonFlag = False,
    data_dir: DataDir = None,
) -> None:
    """The delivery log, newest first."""
    with notifier_database(data_dir) as db:
        page = list_deliveries(db, owner=agency, status=status, referral_id=referral, limit=limit)
    if as_json:
        typer.echo(json.dumps([d.model_dump(mode="json") for d in page.items], indent=2))
        return
    for d in page.items:
        outcome = d.last_error or (f"HTTP {d.last_status_code}" if d.last_status_code else "")
        typer.echo(
            f"{d.id:>8}  {d.status.value:<9} {d.owner:<24} {d.type:<22} {d.referral_id}  "
            f"attempts={d.attempts} {outcome}"
        )


@notifier_app.command("redeliver")
def redeliver_(
    delivery_ids: Annotated[list[int] | None, typer.Argument(help="Delivery ids (see `notifier deliveries`).")] = None,
    all_failed: Annotated[bool, typer.Option("--all-failed", help="Every failed delivery (of --agency).")] = False,
    agency: AgencyOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Send failed deliveries again, each with a fresh retry window."""
    if all_failed == bool(delivery_ids):
        fail("give delivery ids, or --all-failed (optionally with --agency)")
    with notifier_database(data_dir) as db:
        ids = failed_ids(db, owner=agency) if all_failed else list(delivery_ids or [])
        for delivery_id in ids:
            redeliver(db, delivery_id, owner=agency)
    err.print(f"{len(ids)} deliveries queued again", markup=False)


def _owner(agency: str | None, coordinator: str | None) -> Owner:
    if (agency is None) == (coordinator is None):
        fail("give either --agency CODE or --coordinator NAME")
    return Owner(OwnerKind.AGENCY, agency) if agency else Owner(OwnerKind.COORDINATOR, str(coordinator))


@subscription_app.command("set")
def set_(
    url: Annotated[str, typer.Option(help="Where to POST webhooks (https; see RUJUKAN_WEBHOOK_ALLOW_HTTP).")],
    agency: AgencyOpt = None,
    coordinator: CoordinatorOpt = None,
    events: Annotated[
        str, typer.Option(help="Webhook types, comma separated, e.g. referral.accepted,sla.breached (default: all).")
    ] = "",
    data_dir: DataDir = None,
) -> None:
    """Create or change a subscription; the new signing secret is printed once, alone on stdout."""
    owner = _owner(agency, coordinator)
    with notifier_database(data_dir) as db:
        view, secret = set_subscription(db, notifier_settings(data_dir), owner, url=url, event_types=events.split(","))
    replaced = len(view.secrets) > 1
    err.print(
        f"webhooks of {owner} go to {view.url}; store the secret now, it is not shown again"
        + ("; the previous secret keeps signing during the overlap window" if replaced else ""),
        markup=False,
    )
    typer.echo(secret)


@subscription_app.command("rotate")
def rotate(
    agency: AgencyOpt = None,
    coordinator: CoordinatorOpt = None,
    overlap_hours: Annotated[
        float | None, typer.Option(min=0, help="How long the old secret keeps signing (default the setting).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Issue a new signing secret (printed once, alone on stdout)."""
    owner = _owner(agency, coordinator)
    settings = notifier_settings(data_dir)
    overlap = dt.timedelta(hours=overlap_hours) if overlap_hours is not None else settings.secret_overlap()
    with notifier_database(data_dir) as db:
        _, secret = rotate_secret(db, owner, overlap=overlap, box=settings.secret_box())
    hours = overlap.total_seconds() / 3600
    err.print(f"new secret for {owner}; the previous one keeps signing for {hours:g} hours", markup=False)
    typer.echo(secret)


@subscription_app.command("list")
def list_(as_json: JsonFlag = False, data_dir: DataDir = None) -> None:
    """List subscriptions (secret hints only)."""
    with notifier_database(data_dir) as db:
        views = list_subscriptions(db)
    if as_json:
        typer.echo(json.dumps([v.model_dump(mode="json") for v in views], indent=2))
        return
    for v in views:
        typer.echo(_line(v))


def _line(v: SubscriptionView) -> str:
    state = "enabled" if v.enabled else f"disabled ({v.disabled_reason})"
    types = ",".join(v.event_types) or "all"
    return f"{v.owner_kind.value:<11} {v.owner:<28} {state:<10} {types:<20} {v.url}"
