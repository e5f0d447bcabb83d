"""``audit replay``: read the referral topic, verify every chain, and optionally rebuild, compare, export.

A window (``since``/``until``) is judged by the events' own ``occurred_at``; the broker's time index only
chooses where reading starts (with a margin). Inside a window that does not start at the beginning, a
referral's chain may begin after seq 1: its earlier events are outside what was read, so its links and
transitions are checked from there on. Only a replay from the beginning proves a chain complete.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rujukan.audit.errors import ReadError, ReplayOptionError
from rujukan.audit.export import Exporter, Unsealer
from rujukan.audit.log_check import LeafNames, LogCheck, SignedCheckpoint
from rujukan.audit.reader import Progress, read_columns_in_helper, read_topic
from rujukan.audit.verify import ChainVerifier, Violation
from rujukan.core.chain import ChainEvent
from rujukan.core.settings import CoreSettings
from rujukan.core.signatures import PublicKeys
from rujukan.tracker.rebuild import (
    Difference,
    Rebuild,
    SlaPolicy,
    compare,
    open_live_database,
    open_rebuild_database,
)

IN_MEMORY = "sqlite://"


@dataclass(frozen=True)
class ReplayOptions:
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    rebuild_url: str | None = None  # with compare_url and no rebuild_url: an in-memory database
    compare_url: str | None = None
    export_path: Path | None = None
    unsealer: Unsealer | None = None
    idle_timeout_s: float = 30.0
    keys: PublicKeys | None = None  # the transparency log is checked only with the public keys
    checkpoint: SignedCheckpoint | None = None  # a checkpoint saved earlier, to hold the log against
    leaf_names: LeafNames | None = None  # names what is missing from the log (the referral service's record)

    def check(self) -> None:
        if self.checkpoint and not self.keys:
            raise ReplayOptionError("--checkpoint needs the log's public key (--public-key)")
        if self.checkpoint and (self.since or self.until):
            raise ReplayOptionError("--checkpoint holds the whole log against it: it cannot take --from or --to")
        if self.since and self.until and self.since >= self.until:
            raise ReplayOptionError("--from must be before --to")
        if self.since and (self.rebuild_url or self.compare_url):
            raise ReplayOptionError("--rebuild and --compare need the whole log: they cannot take --from")
        if self.until and self.compare_url:
            raise ReplayOptionError("--compare is against the live tracker, which has the whole log: drop --to")
        if self.unsealer and not self.export_path:
            raise ReplayOptionError("--unseal only applies to --export")

    def in_window(self, occurred_at: dt.datetime) -> bool:
        return (self.since is None or occurred_at >= self.since) and (self.until is None or occurred_at < self.until)


@dataclass
class ReplayReport:
    topic: str
    options: ReplayOptions
    started_at: dt.datetime
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    differences: list[Difference] | None = None

    @property
    def clean(self) -> bool:
        return not self.violations and not self.differences

    def as_dict(self) -> dict[str, Any]:
        events = self.counts.get("events", 0)
        return {
            "topic": self.topic,
            "started_at": self.started_at.isoformat(),
            "seconds": round(self.seconds, 3),
            "events_per_second": round(events / self.seconds) if self.seconds else None,
            "window": {
                "from": self.options.since.isoformat() if self.options.since else None,
                "to": self.options.until.isoformat() if self.options.until else None,
            },
            "rebuild": self.options.rebuild_url is not None or self.options.compare_url is not None,
            "compared": self.options.compare_url is not None,
            "exported": str(self.options.export_path) if self.options.export_path else None,
            "unsealed": self.options.unsealer is not None,
            "transparency_log_checked": self.options.keys is not None
            and self.options.since is None
            and self.options.until is None,
            "checkpoint": self.options.checkpoint.text if self.options.checkpoint else None,
            "counts": dict(sorted(self.counts.items())),
            "clean": self.clean,
            "violations": [v.as_dict() for v in self.violations],
            "differences": [d.as_dict() for d in self.differences] if self.differences is not None else None,
        }


def replay(
    settings: CoreSettings,
    options: ReplayOptions,
    *,
    policy: SlaPolicy,
    on_progress: Callable[[Progress], None] | None = None,
) -> ReplayReport:
    options.check()
    topic = settings.topics.referral_events
    report = ReplayReport(topic=topic, options=options, started_at=dt.datetime.now(dt.UTC))
    began = time.perf_counter()
    verifier = ChainVerifier(starts_midway=options.since is not None)
    whole_log = options.since is None and options.until is None
    log_check = LogCheck(options.keys) if options.keys is not None and whole_log else None
    rebuild = Rebuild() if options.rebuild_url or options.compare_url else None
    with ExitStack() as resources:  # every database is checked before the log is read
        scratch = live = None
        if rebuild is not None:
            scratch = open_rebuild_database(options.rebuild_url or IN_MEMORY)
            resources.callback(scratch.dispose)
        if options.compare_url:
            live = open_live_database(options.compare_url)
            resources.callback(live.dispose)
        newest = _newest_checkpoint(settings, options) if log_check is not None else None
        in_window = _read(settings, options, verifier, log_check, rebuild, report, on_progress)
        if log_check is not None:
            log_check.finish(saved=options.checkpoint, newest=newest, names=options.leaf_names)
            report.counts.update(log_check.counts)
        report.counts = {**verifier.counts, **report.counts, "referrals": verifier.referrals}
        report.counts["events_in_window"] = in_window
        if rebuild is not None and scratch is not None:
            rebuild.write(scratch, policy)
            report.counts["rebuilt_handoffs"] = len(rebuild.handoffs)
            if live is not None:
                report.differences = compare(scratch, live)
    report.violations = verifier.violations + (log_check.violations if log_check is not None else [])
    report.seconds = time.perf_counter() - began
    return report


def _read(
    settings: CoreSettings,
    options: ReplayOptions,
    verifier: ChainVerifier,
    log_check: LogCheck | None,
    rebuild: Rebuild | None,
    report: ReplayReport,
    on_progress: Callable[[Progress], None] | None,
) -> int:
    """Feed every message to the verifier, and the events of the window to the rebuild and the export."""
    exporter = Exporter.open(options.export_path, options.unsealer) if options.export_path else None
    in_window = 0
    try:
        batches = read_columns_in_helper(
            settings, report.topic, since=options.since, idle_timeout_s=options.idle_timeout_s, on_progress=on_progress
        )
        for columns in batches:
            for partition, offsets, values, headers in columns:
                for offset, value, header in zip(offsets, values, headers, strict=True):
                    event = verifier.feed(partition=partition, offset=offset, value=value)
                    if log_check is not None:
                        event_id, referral_id = verifier.last_ids or (None, None)
                        log_check.feed(
                            partition=partition,
                            offset=offset,
                            value=value,
                            headers=header,
                            event_id=event_id,
                            referral_id=referral_id or None,
                        )
                    if event is None or not options.in_window(event.occurred_at):
                        continue
                    in_window += 1
                    if rebuild is not None or exporter is not None:
                        _fold(verifier, rebuild, exporter, event, partition=partition, offset=offset, value=value)
    finally:
        if exporter is not None:
            exporter.close()
            report.counts["exported"] = exporter.written
    return in_window


def _fold(
    verifier: ChainVerifier,
    rebuild: Rebuild | None,
    exporter: Exporter | None,
    event: ChainEvent,
    *,
    partition: int,
    offset: int,
    value: bytes | None,
) -> None:
    """Export an event of the window and fold it into the rebuild. The rebuild takes the verifier's plain
    read of an event written with the latest version of its schema (it needs no resolution); export, and
    a rebuild of an older event, decode the message again for its logical record."""
    if exporter is None and verifier.wrote_latest():
        folded: ChainEvent | dict[str, Any] = event
    else:
        folded = verifier.codec.decode(value).record  # it decoded plain: it decodes
        if exporter is not None:
            exporter.write(partition, offset, folded)
    if rebuild is not None and (reason := rebuild.apply(folded)) is not None:
        verifier.note_refused(partition, offset, event.record, reason)


def _newest_checkpoint(settings: CoreSettings, options: ReplayOptions) -> SignedCheckpoint | None:
    """The checkpoint of the largest tree on the checkpoints topic (its signature is checked later), read
    before the events: the relay publishes a checkpoint only once the events below its size are on the
    events topic. A log from before checkpoints has no such topic: None."""
    topic = settings.topics.audit_checkpoints
    newest: tuple[int, SignedCheckpoint] | None = None
    try:
        for batch in read_topic(settings, topic, idle_timeout_s=min(options.idle_timeout_s, 10.0)):
            for message in batch:
                text = (message.value or b"").decode("utf-8", errors="replace")
                size = _claimed_size(text)
                if newest is None or size > newest[0]:
                    where = f"{topic} partition {message.partition} offset {message.offset}"
                    newest = (size, SignedCheckpoint(text, where))
    except ReadError as exc:
        if "does not exist" not in str(exc):
            raise
    return newest[1] if newest is not None else None


def _claimed_size(text: str) -> int:
    """The tree size a note claims (its second line), unverified; -1 when it has none (it is then only
    chosen when nothing else is there, and fails its check)."""
    lines = text.split("\n", 2)
    return int(lines[1]) if len(lines) > 2 and lines[1].isascii() and lines[1].isdigit() and len(lines[1]) <= 20 else -1
