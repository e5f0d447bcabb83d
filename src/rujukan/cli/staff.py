"""``rujukan staff ...``: the people of an agency, each with their own secret for the inbox and the API."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from rujukan.cli.data_dir import DataDir, JsonFlag, referral_context
from rujukan.cli.output import err
from rujukan.referral.staff import StaffRole, StaffView, add_staff, disable_staff, list_staff

staff_app = typer.Typer(help="Staff accounts: a person of an agency, signing in to the inbox.", no_args_is_help=True)


@staff_app.command("add")
def add(
    agency: Annotated[str, typer.Option(help="The person's agency, e.g. BAPAS-JAKTIM.")],
    name: Annotated[str, typer.Option(help="Their name, shown to the agency's supervisors only.")],
    role: Annotated[StaffRole, typer.Option(help="caseworker, or supervisor (sees who acted).")] = StaffRole.CASEWORKER,
    data_dir: DataDir = None,
) -> None:
    """Add a person; their secret is printed once, alone on stdout, and never stored."""
    with referral_context(data_dir) as ctx:
        issued = add_staff(ctx, agency_code=agency, name=name, role=role)
    err.print(
        f"staff account {issued.staff.id} ({role.value}) added to {agency}; give the person the secret now,"
        " it is not shown again",
        markup=False,
    )
    typer.echo(issued.secret)


@staff_app.command("list")
def list_(
    agency: Annotated[str | None, typer.Option(help="Only this agency.")] = None,
    as_json: JsonFlag = False,
    data_dir: DataDir = None,
) -> None:
    """List staff accounts: pseudonym, agency, role, name, state (never secrets)."""
    with referral_context(data_dir) as ctx:
        staff = list_staff(ctx, agency_code=agency)
    if as_json:
        typer.echo(json.dumps([_row(s) for s in staff], indent=2))
        return
    for s in staff:
        state = f"disabled {s.disabled_at.isoformat()}" if s.disabled_at else "active"
        typer.echo(f"{s.id}  {s.agency_code:<24} {s.role.value:<11} {state:<10} {s.name}")


@staff_app.command("disable")
def disable(
    staff_id: Annotated[str, typer.Argument(help="The staff pseudonym (stf_...).")], data_dir: DataDir = None
) -> None:
    """Disable a person: their next request is refused and their inbox sessions end."""
    with referral_context(data_dir) as ctx:
        view = disable_staff(ctx, staff_id=staff_id)
    err.print(f"staff account {view.id} of {view.agency_code} disabled", markup=False)


def _row(s: StaffView) -> dict[str, object]:
    return {
        "id": s.id,
        "agency": s.agency_code,
        "name": s.name,
        "role": s.role.value,
        "hint": s.hint + "...",
        "created_at": s.created_at.isoformat(),
        "disabled_at": s.disabled_at.isoformat() if s.disabled_at else None,
    }
