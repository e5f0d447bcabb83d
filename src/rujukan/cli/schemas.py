"""``rujukan schemas ...``: the event contract in schemas/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rujukan.cli.output import err, fail
from rujukan.core.catalogue import SchemaCatalogue, default_schemas_dir
from rujukan.core.compatibility import check_full_transitive

app = typer.Typer(help="Check the Avro event contract in schemas/.", no_args_is_help=True)


@app.command("check")
def check(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Schema directory (default: this installation's schemas/).")
    ] = None,
) -> None:
    """Check that every version of every schema is FULL_TRANSITIVE compatible with every other."""
    catalogue = SchemaCatalogue.from_directory(directory or default_schemas_dir())
    problems = check_full_transitive(catalogue)
    if problems:
        for problem in problems:
            err.print(f"incompatible: {problem}", markup=False, soft_wrap=True)
        fail(f"{len(problems)} incompatible version pair(s): schemas/ is not FULL_TRANSITIVE compatible")
    err.print(
        f"ok: {len(catalogue.names())} event types, {len(catalogue)} schema versions, FULL_TRANSITIVE compatible",
        markup=False,
    )
