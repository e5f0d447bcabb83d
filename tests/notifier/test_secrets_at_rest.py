"""Webhook signing secrets at rest: sealed under the notifier key, opened only to sign, purged after their
overlap; secrets stored in the clear before are sealed at start; a configured key file that is missing is
an error, never a new key."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlmodel import select

from rujukan.core.db import Database
from rujukan.notifier.errors import SecretBoxError
from rujukan.notifier.models import SubscriptionSecret
from rujukan.notifier.secretbox import PREFIX, SecretBox, secret_housekeeping
from rujukan.notifier.settings import NotifierSettings
from rujukan.notifier.subscriptions import Owner, OwnerKind, rotate_secret, set_subscription, signing_secrets

pytestmark = pytest.mark.integration
OWNER = Owner(OwnerKind.AGENCY, "BAPAS-JAKTIM")
URL = "http://127.0.0.1:9/hooks"


def stored(db: Database) -> list[SubscriptionSecret]:
    with db.read() as session:
        return list(session.exec(select(SubscriptionSecret)).all())


def test_a_secret_is_stored_sealed_and_opens_only_to_sign(
    notifier_db: Database, notifier_settings: NotifierSettings
) -> None:
    view, secret = set_subscription(notifier_db, notifier_settings, OWNER, url=URL)
    [row] = stored(notifier_db)
    assert row.secret.startswith(PREFIX)
    assert secret not in row.secret
    box = notifier_settings.secret_box()
    with notifier_db.read() as session:
        assert signing_secrets(session, view.id, dt.datetime.now(dt.UTC), box) == [secret]
    other = SecretBox(bytes(32))
    with pytest.raises(SecretBoxError), notifier_db.read() as session:
        signing_secrets(session, view.id, dt.datetime.now(dt.UTC), other)  # a copy of the database signs nothing


def test_old_clear_secrets_are_sealed_and_expired_ones_purged(
    notifier_db: Database, notifier_settings: NotifierSettings
) -> None:
    view, first = set_subscription(notifier_db, notifier_settings, OWNER, url=URL)
    box = notifier_settings.secret_box()
    rotate_secret(notifier_db, OWNER, overlap=dt.timedelta(0), box=box)  # the first stops signing at once
    legacy_id = str(uuid.uuid4())
    with notifier_db.transaction() as session:
        session.execute(
            insert(SubscriptionSecret),
            [
                {
                    "id": legacy_id,
                    "subscription_id": view.id,
                    "secret": "whsec_stored_in_the_clear_before",
                    "hint": "whsec_st",
                    "created_at": dt.datetime.now(dt.UTC),
                    "expires_at": None,
                }
            ],
        )
    done = secret_housekeeping(notifier_db, box).step()
    assert done == 2  # one sealed, one purged
    rows = {row.id: row for row in stored(notifier_db)}
    assert len(rows) == 2
    assert all(row.secret.startswith(PREFIX) for row in rows.values())
    assert box.open(rows[legacy_id].secret, secret_id=legacy_id) == "whsec_stored_in_the_clear_before"
    assert first not in str([row.secret for row in rows.values()])


def test_a_configured_notifier_key_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    settings = NotifierSettings(_env_file=None, data_dir=tmp_path, notifier_key_file=tmp_path / "gone.key")  # type: ignore[call-arg]
    with pytest.raises(SecretBoxError, match="is missing"):
        settings.secret_box()
    assert not (tmp_path / "gone.key").exists()
    made = NotifierSettings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    made.secret_box()
    assert (tmp_path / "data" / "notifier.key").stat().st_mode & 0o077 == 0
