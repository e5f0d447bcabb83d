"""Keys that can be retired and erasure that lasts: the key file is a keyring with key ids, rotation on a
live system re-wraps every subject key and retires the old master key, a missing key file is an error
(never a new key), and after an erasure no file of the store holds the destroyed key."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner

from rujukan.cli.main import app
from rujukan.core.keyring import Keyring, KeyringError, key_id
from rujukan.core.sealing import MasterKey, SealingError, wrapped_key_id
from rujukan.referral.api.app import build_context, create_app
from rujukan.referral.context import ReferralContext
from rujukan.referral.housekeeping import expire_idempotency
from rujukan.referral.keys import rotate_keys
from rujukan.referral.migrate import upgrade
from rujukan.referral.models import IdempotencyKey, Referral, Subject
from rujukan.referral.registry import add_agency, issue_credential
from rujukan.referral.settings import ReferralSettings
from tests.databases import database_url
from tests.referral.conftest import AGENCIES, SUBJECT, referral_body

pytestmark = pytest.mark.integration
OLD_KEY = bytes(range(32))
LAPAS = "LAPAS-CIPINANG"


@dataclass
class Keyed:
    settings: ReferralSettings
    ctx: ReferralContext
    client: TestClient
    headers: dict[str, Any]


@pytest.fixture
def keyed(backend: str, tmp_path: Path) -> Iterator[Keyed]:
    """A referral service whose keyring is a key file in the format before key ids (one base64 line)."""
    key_file = tmp_path / "keys" / "master.key"
    key_file.parent.mkdir()
    key_file.write_text(base64.b64encode(OLD_KEY).decode() + "\n")
    with database_url(backend, tmp_path) as url:
        settings = ReferralSettings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=tmp_path / "data",
            referral_database_url=url,
            relay_in_process=False,
            master_key_file=key_file,
        )
        ctx = build_context(settings)
        upgrade(ctx.engine)
        for agency in AGENCIES:
            add_agency(ctx, agency=agency)
        headers = {
            a.code: {"Authorization": f"Bearer {issue_credential(ctx, agency_code=a.code).secret}"} for a in AGENCIES
        }
        with TestClient(create_app(settings, context=ctx)) as client:
            yield Keyed(settings, ctx, client, headers)
        ctx.engine.dispose()


def _bearer(ctx: ReferralContext, code: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_credential(ctx, agency_code=code).secret}"}


def wrapped_keys(ctx: ReferralContext) -> dict[str, bytes]:
    with ctx.read() as session:
        return {s.id: s.wrapped_key for s in session.exec(select(Subject)).all() if s.wrapped_key is not None}


def test_rotation_on_a_live_system_keeps_everything_readable_and_retires_the_old_key(
    keyed: Keyed,
) -> None:
    settings, ctx, client, headers = keyed.settings, keyed.ctx, keyed.client, keyed.headers
    first = client.post("/v1/referrals", json=referral_body(), headers=headers[LAPAS]).json()
    other = client.post(
        "/v1/referrals", json=referral_body(subject={**SUBJECT, "nik": "3175010101900002"}), headers=headers[LAPAS]
    ).json()
    before = wrapped_keys(ctx)
    assert {wrapped_key_id(w) for w in before.values()} == {key_id(OLD_KEY)}  # under the one-line key file's key

    rotation = rotate_keys(ctx, key_file=settings.key_file(), grace_s=1.1)

    assert rotation.rewrapped == 2
    after = wrapped_keys(ctx)
    assert {wrapped_key_id(w) for w in after.values()} == {rotation.active}
    keyring = Keyring.read(settings.key_file())
    assert list(keyring.wrapping) == [rotation.active]
    assert base64.b64encode(OLD_KEY).decode() not in settings.key_file().read_text()
    old = MasterKey(OLD_KEY)
    for subject_id, wrapped in after.items():
        with pytest.raises(SealingError):
            old.unwrap(wrapped, subject_id)  # an old copy of the key file opens nothing wrapped since
    for created in (first, other):
        view = client.get(f"/v1/referrals/{created['id']}", headers=headers[LAPAS]).json()
        assert view["subject"]["full_name"] == SUBJECT["full_name"]
    again = client.post("/v1/referrals", json=referral_body(), headers=headers[LAPAS]).json()
    assert again["subject_id"] == first["subject_id"]  # the NIK index still matches after the rotation
    assert len(wrapped_keys(ctx)) == 2


def test_rotation_through_the_cli_says_what_it_did(
    keyed: Keyed,
) -> None:
    settings, _ctx, client, headers = keyed.settings, keyed.ctx, keyed.client, keyed.headers
    client.post("/v1/referrals", json=referral_body(), headers=headers[LAPAS])
    env = {
        "RUJUKAN_MASTER_KEY_FILE": str(settings.key_file()),
        "RUJUKAN_REFERRAL_DATABASE_URL": settings.database_url(),
    }
    result = CliRunner().invoke(app, ["keys", "rotate", "--data-dir", str(settings.data_dir)], env=env)
    assert result.exit_code == 0, result.output
    assert "1 subject keys re-wrapped under key" in result.output
    refused = CliRunner().invoke(
        app, ["keys", "rotate", "--data-dir", str(settings.data_dir)], env={**env, "RUJUKAN_MASTER_KEY": "x"}
    )
    assert refused.exit_code == 1
    assert "rotation rewrites a key file" in refused.output


def test_a_missing_key_file_is_an_error_never_a_new_key(tmp_path: Path) -> None:
    configured = ReferralSettings(_env_file=None, data_dir=tmp_path, master_key_file=tmp_path / "gone.key")  # type: ignore[call-arg]
    with pytest.raises(KeyringError, match="is missing"):
        configured.load_master_key()
    assert not (tmp_path / "gone.key").exists()
    embedded = ReferralSettings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    embedded.load_master_key()  # an empty data dir: the first start makes its keyring
    assert Keyring.read(tmp_path / "data" / "master.key").legacy is None
    (tmp_path / "data" / "master.key").unlink()
    (tmp_path / "data" / "referral.db").write_bytes(b"")  # a database made under the lost key
    with pytest.raises(KeyringError, match="is missing"):
        embedded.load_master_key()
    result = CliRunner().invoke(app, ["agency", "list", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1
    assert "is missing" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_after_erasure_no_file_of_the_store_holds_the_destroyed_key(
    keyed: Keyed,
) -> None:
    settings, ctx, client, headers = keyed.settings, keyed.ctx, keyed.client, keyed.headers
    created = client.post(
        "/v1/referrals", json=referral_body(), headers={**headers[LAPAS], "Idempotency-Key": "k1"}
    ).json()
    [wrapped] = wrapped_keys(ctx).values()
    database_dir = Path(settings.database_url().removeprefix("sqlite:///")).parent
    assert any(wrapped in f.read_bytes() for f in database_dir.iterdir() if f.is_file())
    assert client.post(f"/v1/subjects/{created['subject_id']}/erase", headers=headers[LAPAS]).status_code == 200
    holding = [f.name for f in database_dir.iterdir() if f.is_file() and wrapped in f.read_bytes()]
    assert holding == []  # database, write-ahead log and shared memory
    with ctx.read() as session:
        assert session.exec(select(IdempotencyKey)).all() == []


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_after_erasure_postgresql_holds_no_version_of_the_subject_row_with_its_key(
    keyed: Keyed,
) -> None:
    settings, ctx, client, headers = keyed.settings, keyed.ctx, keyed.client, keyed.headers
    created = client.post("/v1/referrals", json=referral_body(), headers=headers[LAPAS]).json()
    [wrapped] = wrapped_keys(ctx).values()
    libpq = settings.database_url().replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(libpq, autocommit=True) as db:
        db.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")

        def versions_with_key() -> int:
            rows = db.execute("SELECT t_data FROM heap_page_items(get_raw_page('subjects', 0))").fetchall()
            return sum(1 for (data,) in rows if data is not None and wrapped in bytes(data))

        assert versions_with_key() == 1
        assert client.post(f"/v1/subjects/{created['subject_id']}/erase", headers=headers[LAPAS]).status_code == 200
        assert versions_with_key() == 0  # the dead tuple went with the erasure's VACUUM


def test_idempotency_records_expire_and_are_forgotten(
    keyed: Keyed,
) -> None:
    _settings, ctx, client, headers = keyed.settings, keyed.ctx, keyed.client, keyed.headers
    first = client.post("/v1/referrals", json=referral_body(), headers={**headers[LAPAS], "Idempotency-Key": "k2"})
    assert first.status_code == 201
    with ctx.read() as session:
        [row] = session.exec(select(IdempotencyKey)).all()
    assert expire_idempotency(ctx, older_than=row.created_at) == 0
    assert expire_idempotency(ctx, older_than=ctx.clock()) == 1
    with ctx.read() as session:
        assert session.exec(select(IdempotencyKey)).all() == []
        assert session.exec(select(Referral)).first() is not None  # the referral itself stays
