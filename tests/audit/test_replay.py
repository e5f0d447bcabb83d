"""``rujukan audit replay`` against a real log on the embedded broker: clean logs pass, tampering is named."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rujukan.audit.export import Exporter
from rujukan.audit.replay import ReplayOptions, replay
from rujukan.cli.main import app
from rujukan.core.broker import free_port
from rujukan.tracker.settings import TrackerSettings
from tests.audit.chains import CODEC, T0, reencode, referral_chain
from tests.audit.conftest import Cli, publish
from tests.factories import sample_event

pytestmark = pytest.mark.integration


def referral_of(value: bytes) -> str:
    return str(CODEC.decode(value).record["referral_id"])


def violations(report_path: Path) -> list[tuple[str, str | None, int | None, int, int]]:
    report = json.loads(report_path.read_text())
    return [(v["kind"], v["referral_id"], v["seq"], v["partition"], v["offset"]) for v in report["violations"]]


def test_a_clean_log_with_republished_events_is_clean(
    audit_settings: TrackerSettings, cli: Cli, tmp_path: Path
) -> None:
    chains = [referral_chain(index % 5) for index in range(30)]
    events = [value for chain in chains for value in chain]
    publish(audit_settings, events)
    publish(audit_settings, chains[0] + chains[1])  # the relay published these twice
    result = cli("--report", str(tmp_path / "report.json"))
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["clean"] is True
    assert report["counts"]["events"] == len(events)
    assert report["counts"]["duplicates"] == len(chains[0]) + len(chains[1])
    assert report["counts"]["referrals"] == 30
    assert "0 violations" in result.output


def test_a_flipped_byte_is_named_by_referral_seq_partition_and_offset(
    audit_settings: TrackerSettings, cli: Cli, tmp_path: Path
) -> None:
    chain = referral_chain()
    tampered = bytearray(chain[2])
    tampered[-3] ^= 0x01  # inside seq 3's sealed note: still decodes
    publish(audit_settings, [chain[0], chain[1], bytes(tampered), chain[3], chain[4]], partition=1)
    result = cli("--report", str(tmp_path / "report.json"))
    assert result.exit_code == 2, result.output
    assert violations(tmp_path / "report.json") == [("hash_mismatch", referral_of(chain[0]), 3, 1, 2)]
    assert "NOT clean" in result.output


def test_a_removed_event_is_named(audit_settings: TrackerSettings, cli: Cli, tmp_path: Path) -> None:
    chain = referral_chain()
    publish(audit_settings, [chain[0], chain[1], chain[3], chain[4]], partition=0)
    result = cli("--report", str(tmp_path / "report.json"))
    assert result.exit_code == 2, result.output
    assert violations(tmp_path / "report.json") == [("missing_events", referral_of(chain[0]), 4, 0, 2)]


def test_events_the_rebuild_refuses_after_a_gap_are_named_once_each(
    audit_settings: TrackerSettings, cli: Cli, tmp_path: Path
) -> None:
    """After a gap the verifier can no longer judge transitions and goes on; the tracker's projection
    refuses every later event of that referral (it would dead-letter them). The gap is named once, and
    each later event the rebuild refused is named as refused_by_projection."""
    chain = referral_chain()
    publish(audit_settings, [chain[0], chain[1], chain[3], chain[4]], partition=0)
    scratch = f"sqlite:///{tmp_path / 'scratch.db'}"
    result = cli("--rebuild", scratch, "--report", str(tmp_path / "report.json"))
    assert result.exit_code == 2, result.output
    rid = referral_of(chain[0])
    assert violations(tmp_path / "report.json") == [
        ("missing_events", rid, 4, 0, 2),
        ("refused_by_projection", rid, 5, 0, 3),
    ]


def test_a_reordered_pair_is_named(audit_settings: TrackerSettings, cli: Cli, tmp_path: Path) -> None:
    chain = referral_chain()
    publish(audit_settings, [chain[0], chain[1], chain[3], chain[2], chain[4]], partition=2)
    result = cli("--report", str(tmp_path / "report.json"))
    assert result.exit_code == 2, result.output
    rid = referral_of(chain[0])
    assert violations(tmp_path / "report.json") == [("missing_events", rid, 4, 2, 2), ("out_of_order", rid, 3, 2, 3)]


def test_an_event_republished_with_changed_content_is_named(
    audit_settings: TrackerSettings, cli: Cli, tmp_path: Path
) -> None:
    chain = referral_chain()
    publish(audit_settings, [*chain, reencode(chain[4], outcome="subject_withdrew")], partition=0)
    result = cli("--report", str(tmp_path / "report.json"))
    assert result.exit_code == 2, result.output
    assert violations(tmp_path / "report.json") == [("conflicting_duplicate", referral_of(chain[0]), 5, 0, 5)]


def test_a_window_reads_only_its_events_and_does_not_flag_chains_cut_by_it(
    audit_settings: TrackerSettings, tmp_path: Path
) -> None:
    chain = referral_chain()  # one event per hour from T0, all written to the broker now
    publish(audit_settings, chain)
    since, until = T0 + dt.timedelta(hours=2), T0 + dt.timedelta(hours=4)
    export = tmp_path / "window.jsonl"
    report = replay(
        audit_settings,
        ReplayOptions(since=since, until=until, export_path=export),
        policy=audit_settings.sla_policy(),
    )
    assert report.clean, report.violations
    assert [json.loads(line)["seq"] for line in export.read_text().splitlines()] == [3, 4]
    assert (report.counts["events"], report.counts["events_in_window"]) == (5, 2)


def test_export_keeps_sealed_fields_sealed(audit_settings: TrackerSettings, cli: Cli, tmp_path: Path) -> None:
    chain = referral_chain()
    publish(audit_settings, chain)
    jsonl, table = tmp_path / "events.jsonl", tmp_path / "events.csv"
    assert cli("--export", str(jsonl)).exit_code == 0
    assert cli("--export", str(table)).exit_code == 0
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    created = CODEC.decode(chain[0]).record
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert lines[0]["sealed_subject"] == base64.b64encode(created["sealed_subject"]).decode()
    assert lines[1]["prev_hash"] == CODEC.decode(chain[1]).record["prev_hash"].hex()
    with table.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["event_type"] for row in rows][:2] == ["ReferralCreated", "ReferralAcknowledged"]
    assert json.loads(rows[4]["fields"])["outcome"] == "service_delivered"
    refused = cli("--export", str(jsonl))
    assert refused.exit_code == 1
    assert "already exists" in refused.output


def test_export_writes_a_pathway_step_its_days_and_lists_included(tmp_path: Path) -> None:
    """A ReferralCreated v4 carries a day (the pathway's anchor) and a list of UUIDs (parallel referrals)."""
    created = CODEC.decode(CODEC.encode(sample_event("ReferralCreated", seq=1, prev_hash=None))).record
    assert isinstance(created["pathway_anchor_date"], dt.date)
    assert isinstance(created["parallel_referral_ids"][0], uuid.UUID)
    for name in ("events.jsonl", "events.csv"):
        exporter = Exporter.open(tmp_path / name, None)
        exporter.write(0, 7, created)
        exporter.close()
    [line] = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert line["pathway_anchor_date"] == created["pathway_anchor_date"].isoformat()
    assert line["parallel_referral_ids"] == [str(u) for u in created["parallel_referral_ids"]]
    assert line["occurred_at"] == created["occurred_at"].isoformat()
    with (tmp_path / "events.csv").open(newline="") as stream:
        [row] = list(csv.DictReader(stream))
    assert json.loads(row["fields"])["pathway_anchor_date"] == created["pathway_anchor_date"].isoformat()


def test_a_missing_topic_is_an_error_not_a_verdict(cli: Cli) -> None:
    result = cli()
    assert result.exit_code == 1
    assert "does not exist" in result.output
    assert "Traceback" not in result.output


def test_options_that_cannot_go_together_are_refused(cli: Cli) -> None:
    result = cli("--from", "2026-11-01", "--compare", "sqlite://")
    assert result.exit_code == 1
    assert "--from" in result.output
    assert cli("--from", "yesterday").exit_code == 1


def test_databases_that_cannot_serve_are_refused_before_the_log_is_read(
    audit_settings: TrackerSettings, cli: Cli, tmp_path: Path
) -> None:
    publish(audit_settings, referral_chain())
    scratch = f"sqlite:///{tmp_path / 'scratch.db'}"
    assert cli("--rebuild", scratch).exit_code == 0
    reused = cli("--rebuild", scratch)  # now it holds the first rebuild
    assert reused.exit_code == 1
    assert "already holds handoffs" in reused.output
    for url in ("not a url", f"sqlite:///{tmp_path / 'missing' / 'x.db'}", "postgresql://nobody:secret@127.0.0.1:9/x"):
        result = cli("--compare", url)
        assert result.exit_code == 1, result.output
        assert "--compare" in result.output
        assert "secret" not in result.output
        assert "Traceback" not in result.output


def test_a_report_that_cannot_be_written_is_an_error(audit_settings: TrackerSettings, cli: Cli, tmp_path: Path) -> None:
    publish(audit_settings, referral_chain(1))
    result = cli("--report", str(tmp_path / "no-such-dir" / "report.json"))
    assert result.exit_code == 1
    assert "cannot write the report" in result.output
    assert "0 violations" in result.output  # the verdict is still shown


def test_no_broker_reachable_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["audit", "replay", "--data-dir", str(tmp_path)],
        env={"RUJUKAN_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"},
    )
    assert result.exit_code == 1
    assert "Kafka is not reachable" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 2, result.output
