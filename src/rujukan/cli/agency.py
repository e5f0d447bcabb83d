"""``rujukan agency ...`` and ``rujukan credentials ...``: the registry and agency credentials."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError

from rujukan.cli.data_dir import DataDir, JsonFlag, referral_context, tracker_database
from rujukan.cli.output import err, fail
from rujukan.core.vocabulary import AgencyKind, ServiceType
from rujukan.referral.registry import (
    AgencyIn,
    add_agency,
    issue_credential,
    list_agencies,
    list_credentials,
    revoke_credential,
)
from rujukan.tracker.access import TrackerRole, issue_tracker_credential

agency_app = typer.Typer(help="The agency registry.", no_args_is_help=True)
credentials_app = typer.Typer(help="Agency credentials (bearer secrets).", no_args_is_help=True)


@agency_app.command("add")
def add(
    code: Annotated[str, typer.Argument(help="Agency code, e.g. BAPAS-JAKTIM.")],
    name: Annotated[str, typer.Option(help="Full name.")],
    kind: Annotated[AgencyKind, typer.Option(help="Kind of agency.")],
    region: Annotated[str, typer.Option(help="BPS/Kemendagri region code, e.g. 31.75.")],
    services: Annotated[str, typer.Option(help="Services offered, comma separated (default: any).")] = "",
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite an existing agency.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Register an agency."""
    try:
        agency = AgencyIn(
            code=code,
            name=name,
            kind=kind,
            region_code=region,
            services=[ServiceType(s.strip()) for s in services.split(",") if s.strip()],
        )
    except (ValidationError, ValueError) as exc:
        fail(_validation_message(exc))
    with referral_context(data_dir) as ctx:
        add_agency(ctx, agency=agency, replace=replace)
    err.print(f"agency {code} registered", markup=False)


@agency_app.command("load")
def load(
    file: Annotated[
        Path,
        typer.Argument(
            help="JSON list of agencies (code, name, kind, region_code, services).", exists=True, dir_okay=False
        ),
    ],
    data_dir: DataDir = None,
) -> None:
    """Register (or update) every agency in a JSON file."""
    try:
        agencies = TypeAdapter(list[AgencyIn]).validate_json(file.read_bytes())
    except ValidationError as exc:
        fail(f"{file.name}: {_validation_message(exc)}")
    with referral_context(data_dir) as ctx:
        for agency in agencies:
            add_agency(ctx, agency=agency, replace=True)
    err.print(f"{len(agencies)} agencies loaded from {file.name}", markup=False)


@agency_app.command("list")
def list_(as_json: JsonFlag = False, data_dir: DataDir = None) -> None:
    """List registered agencies."""
    with referral_context(data_dir) as ctx:
        agencies = list_agencies(ctx)
    if as_json:
        typer.echo(json.dumps([a.model_dump(mode="json") for a in agencies], indent=2))
        return
    for a in agencies:
        typer.echo(f"{a.code:<28} {a.kind.value:<16} {a.region_code:<10} {a.name}")


@credentials_app.command("issue")
def issue(
    agency: Annotated[str | None, typer.Option(help="Agency code (agency API credential).")] = None,
    role: Annotated[TrackerRole | None, typer.Option(help="coordinator or auditor (tracker credential).")] = None,
    name: Annotated[str | None, typer.Option(help="Who holds a coordinator or auditor credential.")] = None,
    region: Annotated[
        str | None, typer.Option(help="A coordinator sees only this region and those under it (e.g. 31.75).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Issue a credential; the secret is printed once, alone on stdout, and never stored."""
    if (agency is None) == (role is None):
        fail("give either --agency CODE, or --role coordinator|auditor with --name NAME")
    if role is not None:
        if not name:
            fail("--role needs --name (who holds the credential)")
        with tracker_database(data_dir) as tracker:
            credential_id, secret = issue_tracker_credential(tracker, role=role, name=name, region_scope=region)
        holder = f"{role.value} {name}" + (f" (region {region})" if region else "")
    else:
        if agency is None or region is not None:
            fail("--region scopes coordinator credentials only")
        with referral_context(data_dir) as ctx:
            issued = issue_credential(ctx, agency_code=agency)
        credential_id, secret, holder = issued.id, issued.secret, agency
    err.print(
        f"credential {credential_id} issued for {holder}; store the secret now, it is not shown again", markup=False
    )
    typer.echo(secret)


@credentials_app.command("list")
def list_credentials_(
    agency: Annotated[str | None, typer.Option(help="Only this agency.")] = None,
    as_json: JsonFlag = False,
    data_dir: DataDir = None,
) -> None:
    """List credentials (ids and hints, never secrets)."""
    with referral_context(data_dir) as ctx:
        credentials = list_credentials(ctx, agency_code=agency)
    rows = [
        {
            "id": c.id,
            "agency": c.agency_code,
            "hint": c.hint + "...",
            "created_at": c.created_at.isoformat(),
            "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
        }
        for c in credentials
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
        typer.echo(f"{row['id']}  {row['agency']:<28} {row['hint']:<16} {state}")


@credentials_app.command("revoke")
def revoke(credential_id: Annotated[str, typer.Argument(help="Credential id.")], data_dir: DataDir = None) -> None:
    """Revoke a credential; requests with it answer 401 from now on."""
    with referral_context(data_dir) as ctx:
        revoke_credential(ctx, credential_id=credential_id)
    err.print(f"credential {credential_id} revoked", markup=False)


def _validation_message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return str(exc)
