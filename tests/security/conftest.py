"""Fixtures of the security tests: the referral and tracker apps on PostgreSQL with real credentials of
several agencies and both tracker roles, and a referral between two of the agencies to aim at."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from rujukan.cli.demo import AGENCIES
from rujukan.core.codec import EventCodec
from rujukan.core.db import Database, make_engine
from rujukan.referral.api.app import create_app as create_referral_app
from rujukan.referral.context import ReferralContext
from rujukan.referral.migrate import upgrade as referral_upgrade
from rujukan.referral.registry import add_agency, issue_credential
from rujukan.referral.settings import ReferralSettings
from rujukan.tracker.access import TrackerRole, issue_tracker_credential
from rujukan.tracker.api.app import create_app as create_tracker_app
from rujukan.tracker.consumer import TrackerConsumer
from rujukan.tracker.migrate import upgrade as tracker_upgrade
from rujukan.tracker.settings import TrackerSettings
from tests.databases import database_url
from tests.tracker.conftest import backend, tracker_db, tracker_settings  # noqa: F401 - the tracker's fixtures, here too
from tests.tracker.journeys import Journey

REQUESTER, RESPONDER, OUTSIDER = "LAPAS-CIPINANG", "BAPAS-JAKTIM", "RSUD-PASAR-REBO"
SUBJECT = {"full_name": "Rahasia Fiktif", "sex": "male", "category": "inmate_pre_release", "region_code": "31.75"}


@dataclass
class ReferralApi:
    client: TestClient
    ctx: ReferralContext
    secrets: dict[str, str]  # agency code -> bearer secret
    referral: dict[str, Any]  # a referral from REQUESTER to RESPONDER

    def auth(self, agency: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets[agency]}"}


@pytest.fixture
def referral_api(tmp_path: Path) -> Iterator[ReferralApi]:
    with database_url("postgresql", tmp_path) as url:
        settings = ReferralSettings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=tmp_path / "referral",
            referral_database_url=url,
            relay_in_process=False,
            master_key=SecretStr(base64.b64encode(secrets.token_bytes(32)).decode()),
            rate_limit_per_s=0,  # the fuzzers send thousands of requests with a handful of credentials
        )
        settings.data_dir.mkdir(parents=True)
        engine = make_engine(url)
        referral_upgrade(engine)
        ctx = ReferralContext(engine=engine, master_key=settings.load_master_key(), max_page_size=200)
        credentials = {}
        for agency in AGENCIES:
            add_agency(ctx, agency=agency)
            credentials[agency.code] = issue_credential(ctx, agency_code=agency.code).secret
        with TestClient(create_referral_app(settings, context=ctx), raise_server_exceptions=False) as client:
            body = {
                "to_agency": RESPONDER,
                "service_type": "supervision",
                "urgency": "urgent",
                "reason": "Pembebasan bersyarat",
                "legal_basis": "legal_obligation",
                "subject": SUBJECT,
            }
            created = client.post(
                "/v1/referrals", json=body, headers={"Authorization": f"Bearer {credentials[REQUESTER]}"}
            )
            assert created.status_code == 201, created.text
            yield ReferralApi(client, ctx, credentials, created.json())
        engine.dispose()


@dataclass(frozen=True)
class Record:
    """What the consumer reads of a Kafka record."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes | None


@dataclass
class TrackerApi:
    client: TestClient
    secrets: dict[str, str]  # role -> bearer secret
    journey: Journey


@pytest.fixture
def tracker_api(tmp_path: Path) -> Iterator[TrackerApi]:
    with database_url("postgresql", tmp_path) as url:
        settings = TrackerSettings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=tmp_path / "tracker",
            tracker_database_url=url,
            consumer_in_process=False,
            rate_limit_per_s=0,
        )
        engine = make_engine(url)
        tracker_upgrade(engine)
        db = Database(engine)
        now = dt.datetime.now(dt.UTC)
        journey = Journey(start=now - dt.timedelta(hours=1)).then("ReferralAccepted", hours=0.5)
        codec = EventCodec()
        records = [Record("t", 0, n, b"k", codec.encode(e)) for n, e in enumerate(journey.events)]
        TrackerConsumer(db, settings).apply(records, topic_id="t")
        roles = {
            role.value: issue_tracker_credential(db, role=role, name=f"uji {role.value}")[1] for role in TrackerRole
        }
        with TestClient(create_tracker_app(settings, db=db), raise_server_exceptions=False) as client:
            yield TrackerApi(client, roles, journey)
        engine.dispose()
