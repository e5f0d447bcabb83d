"""``rujukan pathway load|list``: the pathway templates from the operator's side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rujukan.cli.data_dir import DataDir, JsonFlag, referral_context
from rujukan.cli.output import err, fail
from rujukan.referral.errors import InvalidRequest
from rujukan.referral.pathways import bundled_templates, list_templates, load_templates, templates_from_files

pathway_app = typer.Typer(help="Pathway templates (a person's planned steps across agencies).", no_args_is_help=True)


@pathway_app.command("load")
def load(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Template JSON files; without any, the templates that ship with Rujukan.", dir_okay=False),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Store (or replace, by code) pathway templates; every file is checked first, so a bad one loads nothing."""
    try:
        templates = templates_from_files(files or bundled_templates())
    except InvalidRequest as exc:
        fail(f"{exc}; nothing loaded")
    with referral_context(data_dir) as ctx:
        load_templates(ctx, templates)
    err.print(f"{len(templates)} pathway templates loaded: {', '.join(t.code for t in templates)}", markup=False)


@pathway_app.command("list")
def list_(as_json: JsonFlag = False, data_dir: DataDir = None) -> None:
    """Every loaded template: its code, its steps and their days from the anchor."""
    with referral_context(data_dir) as ctx:
        templates = list_templates(ctx)
    if as_json:
        typer.echo(json.dumps([t.model_dump(mode="json") for t in templates], indent=2, ensure_ascii=False))
        return
    for template in templates:
        steps = ", ".join(f"{s.key} ({s.offset_days:+d} d)" for s in template.steps)
        typer.echo(f"{template.code:<32} {template.name.en:<34} {steps}")
