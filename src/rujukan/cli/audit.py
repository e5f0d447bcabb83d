"""``rujukan audit replay``: verify the event log, rebuild and compare the tracker, export.

Exit status: 0 when the log is clean (and the comparison found no difference), 2 when violations or
differences were found, 1 when the replay could not be done. The human summary goes to stderr, the
report (``--report``) to a file.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from rujukan.audit.export import Unsealer
from rujukan.audit.reader import Progress as ReadProgress
from rujukan.audit.replay import ReplayOptions, ReplayReport, replay
from rujukan.cli.audit_log import (
    checkpoint_command,
    leaf_names_of,
    public_key_command,
    public_keys_of,
    saved_checkpoint,
)
from rujukan.cli.data_dir import DataDir, referral_context, referral_settings, tracker_database, tracker_settings
from rujukan.cli.output import err, fail
from rujukan.referral.disclosure import DisclosureRequest, SealedFieldOpener, record_disclosure
from rujukan.tracker.access import TrackerRole, authenticate
from rujukan.tracker.errors import Unauthenticated

audit_app = typer.Typer(help="Audit: replay and verify the event log.", no_args_is_help=True)
audit_app.command("public-key")(public_key_command)
audit_app.command("checkpoint")(checkpoint_command)
WIB = dt.timezone(dt.timedelta(hours=7), "WIB")
SHOWN_FINDINGS = 20


def parse_time(text: str | None, option: str) -> dt.datetime | None:
    """An ISO date or date-time; without an offset it is read as WIB (UTC+7), as Indonesian auditors mean."""
    if text is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} takes an ISO date or time such as 2026-11-01 or 2026-11-01T08:00+07:00")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=WIB)


@audit_app.command("replay")
def replay_command(
    since: Annotated[str | None, typer.Option("--from", help="Only events that occurred at or after this.")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Only events that occurred before this.")] = None,
    rebuild: Annotated[
        str | None, typer.Option("--rebuild", help="Rebuild the tracker projection into this (empty) database URL.")
    ] = None,
    compare: Annotated[
        str | None, typer.Option("--compare", help="Compare the rebuild with this live tracker database URL.")
    ] = None,
    export: Annotated[Path | None, typer.Option("--export", help="Write the events to FILE.jsonl or FILE.csv.")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write the full report to FILE.json.")] = None,
    unseal: Annotated[
        bool,
        typer.Option(
            "--unseal",
            help="Open sealed fields in the export (auditor credential in RUJUKAN_AUDITOR_CREDENTIAL or asked "
            "for, the master key; recorded as a SealedDataDisclosed event first).",
        ),
    ] = False,
    purpose: Annotated[
        str | None, typer.Option("--purpose", help="With --unseal: why (a mandate or case reference, no names).")
    ] = None,
    idle_timeout: Annotated[
        float, typer.Option(help="Give up when the broker sends nothing for this many seconds.", min=1)
    ] = 30.0,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="Hold the log against this signed checkpoint saved earlier (from `rujukan audit checkpoint` or "
            "GET /v1/transparency/checkpoint): every event up to its size present, the same root, and the "
            "newest checkpoint an extension of it.",
        ),
    ] = None,
    public_key: Annotated[
        list[str] | None,
        typer.Option(
            "--public-key",
            help="A note verifier key of the log (twice: the log's and the events' key, as `rujukan audit "
            "public-key --all` prints them). Default: the keys of the referral service in the data dir.",
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Read the referral events topic and prove it complete, untampered and consistent: every referral's
    chain, every event's signature, and the whole log against its signed checkpoints."""
    logging.getLogger("kafka").setLevel(logging.ERROR)
    settings = tracker_settings(data_dir)
    keys = public_keys_of(data_dir, public_key)
    options = ReplayOptions(
        since=parse_time(since, "--from"),
        until=parse_time(until, "--to"),
        rebuild_url=rebuild,
        compare_url=compare,
        export_path=export,
        idle_timeout_s=idle_timeout,
        keys=keys,
        checkpoint=saved_checkpoint(checkpoint),
        leaf_names=leaf_names_of(data_dir) if keys is not None else None,
    )
    options.check()
    with ExitStack() as stack:
        if unseal:
            options = replace(options, unsealer=stack.enter_context(_authorised_opener(data_dir, options, purpose)))
        with _progress_bar() as on_progress:
            result = replay(settings, options, policy=settings.sla_policy(), on_progress=on_progress)
    _summarise(result)
    if report is not None:
        try:
            report.write_text(json.dumps(result.as_dict(), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write the report to {report}: {exc.strerror}")
    if not result.clean:
        raise typer.Exit(2)


@contextmanager
def _authorised_opener(data_dir: Path | None, options: ReplayOptions, purpose: str | None) -> Iterator[Unsealer]:
    """Authenticate the auditor, record the disclosure, and only then hand out the opener (for a block)."""
    if options.export_path is None:
        fail("--unseal opens sealed fields for an export: give --export FILE")
    if options.export_path.exists():
        fail(f"{options.export_path} already exists: choose another file")
    if not purpose:
        fail("--unseal needs --purpose: why the identifying data is opened")
    secret = os.environ.get("RUJUKAN_AUDITOR_CREDENTIAL") or typer.prompt("Auditor credential", hide_input=True)
    try:
        with tracker_database(data_dir) as tracker:
            caller = authenticate(tracker, secret=secret.strip())
    except Unauthenticated:
        fail("the auditor credential is not valid", code=1)
    if caller.role is not TrackerRole.AUDITOR:
        fail("only an auditor credential may open sealed data")
    with referral_context(data_dir) as ctx:
        event_id = record_disclosure(
            ctx,
            referral_settings(data_dir),
            DisclosureRequest(
                auditor_credential_id=caller.credential_id,
                auditor_name=caller.name,
                purpose=purpose,
                export_file=options.export_path.name,
                window_from=options.since,
                window_to=options.until,
            ),
        )
        err.print(f"disclosure recorded as SealedDataDisclosed event {event_id}")
        yield SealedFieldOpener(ctx)


@contextmanager
def _progress_bar() -> Iterator[Callable[[ReadProgress], None]]:
    """A bar on stderr with the rate and the time left (the total is known after the first fetch)."""
    bar = Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} msg/s"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    task = bar.add_task("replay", total=None, rate="-")

    def on_progress(progress: ReadProgress) -> None:
        speed = bar.tasks[0].speed
        bar.update(task, completed=progress.read, total=progress.total, rate=f"{speed:,.0f}" if speed else "-")

    with bar:
        yield on_progress


def _summarise(result: ReplayReport) -> None:
    counts = result.counts
    rate = counts.get("events", 0) / result.seconds if result.seconds else 0.0
    err.print(
        f"{counts.get('messages', 0):,} messages, {counts.get('events', 0):,} events of "
        f"{counts.get('referrals', 0):,} referrals, {counts.get('duplicates', 0):,} duplicates "
        f"in {result.seconds:.1f} s ({rate:,.0f} events/s)"
    )
    if "exported" in counts:
        err.print(f"exported {counts['exported']:,} events to {result.options.export_path}")
    if result.violations:
        table = _table("violations", "kind", "referral", "seq", "partition", "offset", "detail")
        for v in result.violations[:SHOWN_FINDINGS]:
            partition, offset = (str(v.partition), str(v.offset)) if v.offset >= 0 else ("-", "-")
            table.add_row(v.kind, v.referral_id or "-", str(v.seq or "-"), partition, offset, v.detail)
        err.print(table)
        if len(result.violations) > SHOWN_FINDINGS:
            err.print(f"... and {len(result.violations) - SHOWN_FINDINGS} more (see --report)")
    if result.differences:
        table = _table("differences from the live tracker", "table", "key", "kind", "columns")
        for d in result.differences[:SHOWN_FINDINGS]:
            table.add_row(d.table, d.key, d.kind, ", ".join(d.columns))
        err.print(table)
        if len(result.differences) > SHOWN_FINDINGS:
            err.print(f"... and {len(result.differences) - SHOWN_FINDINGS} more (see --report)")
    if result.differences is not None and not result.differences:
        err.print("rebuild matches the live tracker: 0 differences")
    _summarise_log(result)
    verdict = "[green]clean[/]" if result.clean else "[red]NOT clean[/]"
    err.print(f"{verdict}: {len(result.violations)} violations", markup=True)


def _summarise_log(result: ReplayReport) -> None:
    counts = result.counts
    if result.as_dict()["transparency_log_checked"]:
        err.print(
            f"transparency log: {counts.get('leaves', 0):,} of {counts.get('log_size', 0):,} leaves read, "
            f"{counts.get('checkpoints_checked', 0):,} signed checkpoints held against them"
        )
    elif result.options.keys is None:
        err.print("[yellow]event signatures and checkpoints not checked: no public keys (give --public-key)[/]")


def _table(title: str, *columns: str) -> Table:
    """Ids are never cut short: an auditor copies them."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table
