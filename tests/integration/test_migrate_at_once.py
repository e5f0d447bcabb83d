"""Replicas start at the same moment on a fresh database: every one of them migrates or finds the work
done, none dies (two used to race on ``alembic_version`` and one died with a UniqueViolation)."""

from __future__ import annotations

import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.databases import BACKENDS, database_url
from tests.system.test_up import clean_env

pytestmark = pytest.mark.integration
REPLICAS = 4
SERVICES = ("referral", "tracker", "notifier")


@pytest.mark.parametrize("backend", BACKENDS)
def test_replicas_migrating_at_once_all_succeed_and_migrate_once(backend: str, tmp_path: Path) -> None:
    with ExitStack() as stack:
        urls = {}
        for service in SERVICES:
            folder = tmp_path / service
            folder.mkdir()
            urls[service] = stack.enter_context(database_url(backend, folder))
        env = clean_env() | {f"RUJUKAN_{s.upper()}_DATABASE_URL": url for s, url in urls.items()}
        command = [sys.executable, "-m", "rujukan.cli.main", "migrate", "--data-dir", str(tmp_path / "data")]
        replicas = [
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            for _ in range(REPLICAS)
        ]
        outputs = [replica.communicate(timeout=120)[0].decode() for replica in replicas]
        assert [replica.returncode for replica in replicas] == [0] * REPLICAS, outputs
        assert all("Traceback" not in output for output in outputs)
        for service, url in urls.items():
            engine = create_engine(url)
            try:
                with engine.connect() as connection:
                    versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
            finally:
                engine.dispose()
            assert len(versions) == 1, (service, versions)
