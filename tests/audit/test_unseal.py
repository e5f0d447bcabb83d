"""``--unseal``: only an auditor opens sealed data, only after the disclosure is recorded and published;
an erased subject stays unreadable."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import select
from typer.testing import CliRunner, Result

from rujukan.cli.data_dir import referral_context, tracker_database
from rujukan.cli.main import app
from rujukan.core.broker import free_port
from rujukan.core.codec import EventCodec
from rujukan.core.lifecycle import Action
from rujukan.referral.act import act_on_referral
from rujukan.referral.commands import ActionBody, CreateReferral
from rujukan.referral.context import ReferralContext
from rujukan.referral.create import create_referral
from rujukan.referral.disclosure import SealedFieldOpener
from rujukan.referral.models import Disclosure
from rujukan.referral.registry import add_agency
from rujukan.referral.relay import Relay, referral_loops
from rujukan.referral.settings import ReferralSettings
from rujukan.referral.subjects import erase_subject
from rujukan.tracker.access import TrackerRole, issue_tracker_credential
from rujukan.tracker.settings import TrackerSettings
from tests.kafka_helpers import read_topic
from tests.referral.conftest import AGENCIES, MASTER_KEY_B64, SUBJECT, referral_body

pytestmark = pytest.mark.integration


@dataclass
class System:
    data_dir: Path
    ctx: ReferralContext
    settings: TrackerSettings
    auditor: str
    coordinator: str
    kept: str  # referral whose subject is still known
    erased: str  # referral whose subject was erased


@pytest.fixture
def system(audit_settings: TrackerSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[System]:
    data_dir = audit_settings.data_dir
    monkeypatch.setenv("RUJUKAN_MASTER_KEY", MASTER_KEY_B64)
    monkeypatch.setenv("RUJUKAN_KAFKA_BOOTSTRAP", audit_settings.kafka_bootstrap)
    monkeypatch.setenv("RUJUKAN_TOPICS__REFERRAL_EVENTS", audit_settings.topics.referral_events)
    monkeypatch.setenv("RUJUKAN_TOPICS__AUDIT_EVENTS", audit_settings.topics.audit_events)
    monkeypatch.setenv("RUJUKAN_TOPICS__AUDIT_CHECKPOINTS", audit_settings.topics.audit_checkpoints)
    with referral_context(data_dir) as ctx:
        yield _seeded(ctx, audit_settings)


def _seeded(ctx: ReferralContext, audit_settings: TrackerSettings) -> System:
    data_dir = audit_settings.data_dir
    for agency in AGENCIES:
        add_agency(ctx, agency=agency)
    kept = create_referral(ctx, agency="LAPAS-CIPINANG", request=CreateReferral.model_validate(referral_body()))
    act_on_referral(
        ctx,
        agency="BAPAS-JAKTIM",
        referral_id=kept.referral.id,
        action=Action.NOTE,
        body=ActionBody(note="Klien hadir tepat waktu"),
    )
    other = dict(SUBJECT, nik="3175010101900002", full_name="Siti Fiktif")
    erased = create_referral(
        ctx, agency="LAPAS-CIPINANG", request=CreateReferral.model_validate(referral_body(subject=other))
    )
    erase_subject(ctx, agency="LAPAS-CIPINANG", subject_id=erased.referral.subject_id)
    relay = Relay(ctx, ReferralSettings().model_copy(update={"data_dir": data_dir}))
    while relay.run_once():
        pass
    relay.close()
    with tracker_database(data_dir) as tracker:
        _, auditor = issue_tracker_credential(tracker, role=TrackerRole.AUDITOR, name="Inspektorat Kemensos")
        _, coordinator = issue_tracker_credential(tracker, role=TrackerRole.COORDINATOR, name="Koordinator DKI")
    return System(data_dir, ctx, audit_settings, auditor, coordinator, kept.referral.id, erased.referral.id)


def unseal(system: System, export: Path, credential: str, *extra: str) -> Result:
    return CliRunner().invoke(
        app,
        ["audit", "replay", "--export", str(export), "--unseal", "--data-dir", str(system.data_dir), *extra],
        env={"RUJUKAN_AUDITOR_CREDENTIAL": credential},
    )


def disclosures(ctx: ReferralContext) -> list[Disclosure]:
    with ctx.read() as session:
        return list(session.exec(select(Disclosure)).all())


def test_an_auditor_gets_the_identifying_data_and_the_access_is_recorded_first(system: System, tmp_path: Path) -> None:
    export = tmp_path / "opened.jsonl"
    result = unseal(system, export, system.auditor, "--purpose", "Pemeriksaan Inspektorat ST-12/2026")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in export.read_text().splitlines()]
    by_referral = {(e["referral_id"], e["event_type"]): e for e in events}
    created = by_referral[(system.kept, "ReferralCreated")]
    assert created["subject"]["full_name"] == SUBJECT["full_name"]
    assert created["subject"]["nik"] == SUBJECT["nik"]
    assert created["reason"] == "Bebas bersyarat bulan depan"
    assert "sealed_subject" not in created
    assert by_referral[(system.kept, "ReferralNoteAdded")]["note"] == "Klien hadir tepat waktu"
    gone = by_referral[(system.erased, "ReferralCreated")]
    assert (gone["subject"], gone["reason"]) == (None, None)  # crypto-shredded for auditors too
    assert export.stat().st_mode & 0o077 == 0

    [row] = disclosures(system.ctx)
    assert row.published_at is not None
    [record] = read_topic(system.settings, system.settings.topics.audit_events, expected=1)
    assert record.value == row.payload
    event = EventCodec().decode(record.value).record
    assert (event["event_type"], event["auditor_name"], event["export_file"]) == (
        "SealedDataDisclosed",
        "Inspektorat Kemensos",
        "opened.jsonl",
    )
    assert event["purpose"] == "Pemeriksaan Inspektorat ST-12/2026"
    assert str(event["event_id"]) in result.output


def test_without_unseal_the_same_export_stays_sealed(system: System, tmp_path: Path) -> None:
    export = tmp_path / "sealed.jsonl"
    result = CliRunner().invoke(app, ["audit", "replay", "--export", str(export), "--data-dir", str(system.data_dir)])
    assert result.exit_code == 0, result.output
    text = export.read_text()
    assert SUBJECT["full_name"] not in text
    assert SUBJECT["nik"] not in text
    created = next(json.loads(line) for line in text.splitlines() if '"ReferralCreated"' in line)
    assert base64.b64decode(created["sealed_subject"])[:1] == b"\x01"
    assert disclosures(system.ctx) == []


@pytest.mark.parametrize(
    ("who", "extra", "message"),
    [
        ("coordinator", ["--purpose", "Rekap"], "only an auditor"),
        ("nobody", ["--purpose", "Rekap"], "not valid"),
        ("auditor", [], "--purpose"),
    ],
)
def test_unsealing_is_refused_without_an_auditor_and_a_purpose(
    system: System, tmp_path: Path, who: str, extra: list[str], message: str
) -> None:
    credential = {"coordinator": system.coordinator, "auditor": system.auditor}.get(who, "rjk_" + "x" * 40)
    export = tmp_path / "refused.jsonl"
    result = unseal(system, export, credential, *extra)
    assert result.exit_code == 1
    assert message in result.output
    assert not export.exists()
    assert disclosures(system.ctx) == []


def test_a_disclosure_that_could_not_be_published_is_published_by_the_referral_service_later(
    system: System, tmp_path: Path
) -> None:
    """The auditor's disclosure is stored before anything opens; when the broker cannot take it then,
    nothing opens, and the referral service's disclosure outbox publishes it as soon as it can (it was
    once published only then, and lost for good on failure)."""
    export = tmp_path / "refused.jsonl"
    arguments = ["audit", "replay", "--export", str(export), "--unseal", "--purpose", "Pemeriksaan ST-13/2026"]
    refused = CliRunner().invoke(
        app,
        [*arguments, "--data-dir", str(system.data_dir)],
        env={"RUJUKAN_AUDITOR_CREDENTIAL": system.auditor, "RUJUKAN_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"},
    )
    assert refused.exit_code == 1, refused.output
    assert not export.exists()
    [row] = disclosures(system.ctx)
    assert row.published_at is None

    settings = ReferralSettings().model_copy(update={"data_dir": system.data_dir})
    loops = referral_loops(system.ctx, settings).start()
    try:
        [record] = read_topic(system.settings, system.settings.topics.audit_events, expected=1, timeout=30)
    finally:
        loops.stop()
    assert record.value == row.payload
    assert dict(record.headers)["event_type"] == b"SealedDataDisclosed"
    [published] = disclosures(system.ctx)
    assert published.published_at is not None


def test_the_disclosure_is_stored_before_the_first_field_opens(
    system: System, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored_when_opening: list[int] = []
    opens = SealedFieldOpener.__call__

    def watched(opener: SealedFieldOpener, event: dict[str, Any]) -> dict[str, Any]:
        stored_when_opening.append(len(disclosures(system.ctx)))
        return opens(opener, event)

    monkeypatch.setattr(SealedFieldOpener, "__call__", watched)
    result = unseal(system, tmp_path / "opened.jsonl", system.auditor, "--purpose", "Pemeriksaan ST-14/2026")
    assert result.exit_code == 0, result.output
    assert stored_when_opening  # fields were opened
    assert set(stored_when_opening) == {1}  # and the disclosure was in the database before the first


def test_when_the_disclosure_cannot_be_stored_nothing_opens_and_no_file_is_written(
    system: System, tmp_path: Path
) -> None:
    with system.ctx.engine.begin() as connection:
        connection.execute(text("DROP TABLE disclosures"))
    export = tmp_path / "refused.jsonl"
    result = unseal(system, export, system.auditor, "--purpose", "Pemeriksaan ST-15/2026")
    assert result.exit_code == 1, result.output
    assert "disclosure" in result.output
    assert "Traceback" not in result.output
    assert not export.exists()
