"""``rujukan agency`` and ``rujukan credentials`` as a user runs them (SQLite in a data dir)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from rujukan.cli.data_dir import referral_context
from rujukan.cli.main import app
from rujukan.core.keyring import Keyring
from rujukan.referral.commands import CreateReferral
from rujukan.referral.create import create_referral
from rujukan.referral.errors import Unauthenticated
from rujukan.referral.models import Referral, Subject
from rujukan.referral.registry import add_agency, authenticate
from tests.referral.conftest import AGENCIES, referral_body


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    Keyring.generate().write(tmp_path / "master.key")  # a configured key file must exist: a new one opens nothing
    monkeypatch.setenv("RUJUKAN_MASTER_KEY_FILE", str(tmp_path / "master.key"))
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, [*args, "--data-dir", str(tmp_path / "data")])

    return invoke


def test_agencies_are_added_listed_and_loaded(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    added = run(
        "agency",
        "add",
        "POLRES-JAKTIM-PPA",
        "--name",
        "Unit PPA Polres Jakarta Timur",
        "--kind",
        "police",
        "--region",
        "31.75",
    )
    assert added.exit_code == 0, added.output
    source = tmp_path / "agencies.json"
    source.write_text(
        json.dumps(
            [
                {
                    "code": "UPTD-PPA-DKI",
                    "name": "UPTD PPA DKI Jakarta",
                    "kind": "local_government",
                    "region_code": "31",
                    "services": ["psychosocial_support", "safe_shelter"],
                }
            ]
        )
    )
    assert run("agency", "load", str(source)).exit_code == 0
    listed = run("agency", "list", "--json")
    assert listed.exit_code == 0
    assert [a["code"] for a in json.loads(listed.stdout)] == ["POLRES-JAKTIM-PPA", "UPTD-PPA-DKI"]
    assert json.loads(listed.stdout)[1]["services"] == ["psychosocial_support", "safe_shelter"]


def test_bad_agency_input_exits_1_with_a_message(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = run("agency", "add", "lower-case", "--name", "x", "--kind", "police", "--region", "31.75")
    assert bad.exit_code == 1
    assert "code: String should match pattern" in bad.output
    duplicate_args = ("agency", "add", "BAPAS-JAKTIM", "--name", "Bapas", "--kind", "corrections", "--region", "31")
    assert run(*duplicate_args).exit_code == 0
    again = run(*duplicate_args)
    assert again.exit_code == 1
    assert "already exists" in again.output
    assert "Traceback" not in again.output


def test_a_credential_is_printed_once_alone_and_can_be_revoked(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("agency", "add", "BAPAS-JAKTIM", "--name", "Bapas", "--kind", "corrections", "--region", "31.75")
    issued = run("credentials", "issue", "--agency", "BAPAS-JAKTIM")
    assert issued.exit_code == 0
    secret = issued.stdout.strip()
    assert secret.startswith("rjk_")
    assert secret.count("\n") == 0
    with referral_context(tmp_path / "data") as ctx:
        assert authenticate(ctx, secret=secret) == "BAPAS-JAKTIM"
        listed = json.loads(run("credentials", "list", "--json").stdout)
        assert secret not in json.dumps(listed)
        assert run("credentials", "revoke", listed[0]["id"]).exit_code == 0
    with referral_context(tmp_path / "data") as ctx, pytest.raises(Unauthenticated):  # the next process
        authenticate(ctx, secret=secret)  # (a running one within a second: test_api)
    unknown = run("credentials", "issue", "--agency", "NOPE")
    assert unknown.exit_code == 1
    assert "no agency NOPE" in unknown.output


def test_coordinator_credentials_go_to_the_tracker(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from rujukan.cli.data_dir import tracker_database
    from rujukan.tracker.access import authenticate as tracker_authenticate

    issued = run("credentials", "issue", "--role", "coordinator", "--name", "Koordinator DKI")
    assert issued.exit_code == 0, issued.output
    with tracker_database(tmp_path / "data") as tracker:
        caller = tracker_authenticate(tracker, secret=issued.stdout.strip())
    assert (caller.role.value, caller.name) == ("coordinator", "Koordinator DKI")
    both = run("credentials", "issue", "--role", "auditor", "--agency", "X")
    assert both.exit_code == 1
    assert "either --agency" in both.output
    nameless = run("credentials", "issue", "--role", "auditor")
    assert nameless.exit_code == 1


def test_a_missing_key_file_is_a_message_not_a_new_key(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "master.key").unlink()  # the configured file is gone: a fresh key would open none of the data
    listed = run("agency", "list")
    assert listed.exit_code == 1
    assert "master.key is missing" in listed.output
    assert "Traceback" not in listed.output
    assert not (tmp_path / "master.key").exists()


def test_a_legal_hold_placed_with_the_cli_blocks_erasure_until_released(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with referral_context(tmp_path / "data") as ctx:
        for agency in AGENCIES:
            add_agency(ctx, agency=agency)
        created = create_referral(ctx, agency="LAPAS-CIPINANG", request=CreateReferral.model_validate(referral_body()))
        with ctx.read() as session:  # operators name the internal id (as the tracker shows it)
            subject_id = session.exec(select(Referral.subject_id).where(Referral.id == created.referral.id)).one()
    placed = run("subject", "hold", subject_id)
    assert placed.exit_code == 0, placed.output
    held = run("subject", "erase", subject_id)
    assert held.exit_code == 1
    assert "legal hold" in held.output
    assert "Traceback" not in held.output
    assert run("subject", "release", subject_id).exit_code == 0
    erased = run("subject", "erase", subject_id)
    assert erased.exit_code == 0, erased.output
    assert f"erased 1 subject(s): {subject_id}" in erased.output
    with referral_context(tmp_path / "data") as ctx, ctx.read() as session:
        assert session.get(Subject, subject_id).wrapped_key is None  # type: ignore[union-attr]
    unknown = run("subject", "hold", "sub_nobody")
    assert unknown.exit_code == 1
    assert "Traceback" not in unknown.output
