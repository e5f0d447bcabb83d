"""``rujukan directory load|list``: the service directory from the operator's side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ValidationError

from rujukan.cli.data_dir import DataDir, JsonFlag, referral_context
from rujukan.cli.output import err, fail
from rujukan.core.vocabulary import ServiceType
from rujukan.referral.commands import AgencyCode
from rujukan.referral.directory import RUJUKAN_ACTOR, check_offered, list_services, put_service
from rujukan.referral.directory_models import DirectoryServiceIn
from rujukan.referral.errors import InvalidRequest, NotFound
from rujukan.referral.hsds import entries_of

directory_app = typer.Typer(help="The service directory (capacity, eligibility, service areas).", no_args_is_help=True)


class LoadedEntry(DirectoryServiceIn):
    """One entry of a directory file in Rujukan's own form: the PUT body with its agency and service type."""

    agency: AgencyCode
    service_type: ServiceType


def _entries(document: Any) -> list[tuple[str, ServiceType, DirectoryServiceIn]]:
    if isinstance(document, dict) and "services" in document:
        return entries_of(document)  # an HSDS document (as GET /v1/directory/hsds gives)
    if not isinstance(document, list):
        raise InvalidRequest("give a JSON list of entries, or an HSDS document with organizations and services")
    found = []
    for index, item in enumerate(document):
        try:
            entry = LoadedEntry.model_validate(item)
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            raise InvalidRequest(f"entry {index}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from exc
        fields = {name: getattr(entry, name) for name in DirectoryServiceIn.model_fields}
        found.append((entry.agency, entry.service_type, DirectoryServiceIn(**fields)))
    return found


@directory_app.command("load")
def load(
    file: Annotated[
        Path,
        typer.Argument(
            help="A JSON list of entries (agency, service_type and the PUT body), or an HSDS 3.1 document.",
            exists=True,
            dir_okay=False,
        ),
    ],
    data_dir: DataDir = None,
) -> None:
    """Publish (or replace) every entry of a file, as the operator (each is checked as the API does)."""
    try:
        entries = _entries(json.loads(file.read_text(encoding="utf-8")))
    except (ValueError, InvalidRequest) as exc:
        fail(f"{file.name}: {exc if isinstance(exc, InvalidRequest) else 'not JSON'}")
    with referral_context(data_dir) as ctx:
        with ctx.read() as session:  # every entry's agency and service first: a bad file loads nothing
            for index, (agency, service_type, _) in enumerate(entries):
                try:
                    check_offered(session, agency, service_type)
                except (NotFound, InvalidRequest) as exc:
                    fail(f"{file.name}: entry {index}: {exc}; nothing loaded")
        for agency, service_type, entry in entries:
            put_service(ctx, agency=agency, service_type=service_type, entry=entry, actor=RUJUKAN_ACTOR)
    err.print(f"{len(entries)} directory entries loaded from {file.name}", markup=False)


@directory_app.command("list")
def list_(
    service_type: Annotated[ServiceType | None, typer.Option(help="Only this service type.")] = None,
    region: Annotated[str | None, typer.Option(help="Only entries that serve this region code.")] = None,
    as_json: JsonFlag = False,
    data_dir: DataDir = None,
) -> None:
    """Every entry: agency, service type, capacity, regions."""
    with referral_context(data_dir) as ctx:
        entries = list_services(ctx, service_type=service_type, region_code=region)
    if as_json:
        typer.echo(json.dumps([e.model_dump(mode="json") for e in entries], indent=2, ensure_ascii=False))
        return
    for e in entries:
        typer.echo(f"{e.agency:<26} {e.service_type.value:<26} {_capacity(e):<22} {','.join(e.regions) or 'nasional'}")


def _capacity(entry: BaseModel) -> str:
    capacity = getattr(entry, "capacity", None)
    if capacity is None:
        return "-"
    of = f"/{capacity.maximum}" if capacity.maximum is not None else ""
    return f"{capacity.available}{of} {capacity.unit}" + (
        f" ({capacity.waitlist.value})" if not capacity.available else ""
    )
