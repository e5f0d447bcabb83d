"""``rujukan``: the command-line entry point.

Commands only translate arguments into a call and the result into output and an exit status. Messages
for people go to stderr; a command's data (a secret, a JSON list) alone goes to stdout. A RujukanError
becomes a one-line message and exit status 1, never a stack trace; so does a database that stays
unreachable (the message names the error class, never the URL, which may hold a password), a broker
that cannot be reached, and settings that are not valid (named, without their value).
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from kafka.errors import KafkaError
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from typer.core import TyperGroup

from rujukan.cli import (
    agency,
    audit,
    broker,
    data_dir,
    demo,
    directory,
    kafka,
    keys,
    notifier,
    pathway,
    referral,
    schemas,
    staff,
    tracker,
    up,
    workers,
)
from rujukan.cli.output import report_error
from rujukan.core.errors import RujukanError


def settings_problem(exc: ValidationError) -> str:
    """The first problem of invalid settings as ``RUJUKAN_NAME: what is wrong``, without the value (which may
    be a secret)."""
    first = exc.errors(include_input=False, include_url=False)[0]
    names = [str(part) for part in first["loc"] if not isinstance(part, int)]
    name = "RUJUKAN_" + "__".join(names).upper() if names else "a setting"
    return f"{name}: {first['msg']}"


class RujukanGroup(TyperGroup):
    """Turns Rujukan's own errors into a message and exit status 1, whichever command raised them."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]  # base type is private (typer._click)
        try:
            return super().invoke(ctx)
        except RujukanError as exc:
            report_error(str(exc))
            raise typer.Exit(1) from exc
        except OperationalError as exc:
            reason = type(exc.orig).__name__ if exc.orig else "OperationalError"
            report_error(f"the database is not reachable ({reason}); is it running, and is its URL right?")
            raise typer.Exit(1) from exc
        except KafkaError as exc:
            report_error(
                f"Kafka is not reachable ({type(exc).__name__}); is the broker running, and is "
                "RUJUKAN_KAFKA_BOOTSTRAP (or the running system of --data-dir) right?"
            )
            raise typer.Exit(1) from exc
        except ValidationError as exc:
            report_error(f"invalid setting: {settings_problem(exc)}")
            raise typer.Exit(1) from exc


app = typer.Typer(
    name="rujukan",
    cls=RujukanGroup,
    help="Rujukan: multi-agency referral message broker.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(schemas.app, name="schemas")
app.add_typer(agency.agency_app, name="agency")
app.add_typer(agency.credentials_app, name="credentials")
app.add_typer(staff.staff_app, name="staff")
app.add_typer(directory.directory_app, name="directory")
app.add_typer(pathway.pathway_app, name="pathway")
app.add_typer(referral.referral_app, name="referral")
app.add_typer(referral.relay_app, name="relay")
app.add_typer(referral.subject_app, name="subject")
app.add_typer(tracker.tracker_app, name="tracker")
app.add_typer(notifier.notifier_app, name="notifier")
app.add_typer(notifier.subscription_app, name="subscription")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(kafka.kafka_app, name="kafka")
app.add_typer(keys.keys_app, name="keys")
app.command(name="broker")(broker.run_broker)
app.command(name="up")(up.up)
app.command(name="demo")(demo.demo)
app.command(name="migrate")(data_dir.migrate)
app.command(name="worker", hidden=True)(workers.worker)


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    run()
