"""``rujukan``: the command-line entry point.

Commands only translate arguments into a call and the result into output and an exit status. Messages
for people go to stderr; a command's data (a secret, a JSON list) alone goes to stdout. A RujukanError
becomes a one-line message and exit status 1, never a stack trace.
"""

from __future__ import annotations

import sys

import typer

from rujukan.cli import broker, schemas
from rujukan.cli.output import report_error
from rujukan.core.errors import RujukanError

app = typer.Typer(
    name="rujukan",
    help="Rujukan: multi-agency referral message broker.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(schemas.app, name="schemas")
app.command(name="broker")(broker.run_broker)


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except RujukanError as exc:
        report_error(str(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
