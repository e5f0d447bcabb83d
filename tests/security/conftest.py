"""Fixtures of the security tests: the referral, tracker and notifier apps on PostgreSQL with real
credentials of several agencies and both tracker roles, a referral between two of the agencies to aim at,
the webhook subscriptions and delivery log of those two agencies, and the three OpenAPI schemas for
schemathesis, each calling with a different real credential per request.

The notifier checks agency credentials as it does in production: it asks the referral service whose a
credential is (``GET /v1/me``), here the real referral app of ``referral_api``, served in process."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import insert
from sqlmodel import col

from rujukan.cli.demo import AGENCIES
from rujukan.core.codec import EventCodec
from rujukan.core.db import Database, make_engine
from rujukan.notifier.api.app import create_app as create_notifier_app
from rujukan.notifier.api.auth import ReferralServiceCheck
from rujukan.notifier.migrate import upgrade as notifier_upgrade
from rujukan.notifier.models import DeliveryRow
from rujukan.notifier.settings import NotifierSettings
from rujukan.referral.api.app import create_app as create_referral_app
from rujukan.referral.context import ReferralContext
from rujukan.referral.migrate import upgrade as referral_upgrade
from rujukan.referral.registry import add_agency, issue_credential, list_credentials, revoke_credential
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
        ctx = ReferralContext(
            engine=engine,
            master_key=settings.load_master_key(),
            signing=settings.load_signing_keys(),
            max_page_size=200,
        )
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
    db: Database


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
            yield TrackerApi(client, roles, journey, db)
        engine.dispose()


@dataclass
class NotifierApi:
    client: TestClient
    db: Database
    deliveries: dict[str, int]  # agency code -> id of its failed delivery about referral_api.referral


@pytest.fixture
def notifier_api(tmp_path: Path, referral_api: ReferralApi) -> Iterator[NotifierApi]:
    """The notifier API on PostgreSQL, its consumers off; REQUESTER and RESPONDER each with a subscription
    (set through the API with their own credentials) and a failed delivery about the referral."""
    with database_url("postgresql", tmp_path) as url:
        settings = NotifierSettings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=tmp_path / "notifier",
            notifier_database_url=url,
            webhook_allowed_networks=[ip_network("127.0.0.0/8")],
            webhook_allow_http=True,
            rate_limit_per_s=0,
        )
        engine = make_engine(url)
        notifier_upgrade(engine)
        db = Database(engine)
        check = ReferralServiceCheck("http://testserver", client=referral_api.client)
        app = create_notifier_app(settings, db=db, agency_check=check, run_notifier=False)
        with TestClient(app, raise_server_exceptions=False) as client:
            deliveries = {}
            for agency in (REQUESTER, RESPONDER):
                url_of = f"http://127.0.0.1:9/{agency.lower()}"
                made = client.put("/v1/subscription", json={"url": url_of}, headers=referral_api.auth(agency))
                assert made.status_code == 200, made.text
                deliveries[agency] = _failed_delivery(db, made.json()["subscription"]["id"], agency, referral_api)
            yield NotifierApi(client, db, deliveries)
        engine.dispose()


def _failed_delivery(db: Database, subscription_id: str, owner: str, referral_api: ReferralApi) -> int:
    """A delivery that exhausted its retries (so its owner may redeliver it), about the fixture's referral."""
    now = dt.datetime.now(dt.UTC)
    row = {
        "subscription_id": subscription_id,
        "owner": owner,
        "event_id": str(uuid.uuid4()),
        "referral_id": referral_api.referral["id"],
        "webhook_type": "referral.requested",
        "payload": "{}",
        "status": "failed",
        "attempts": 9,
        "created_at": now,
        "next_attempt_at": now,
        "last_status_code": 500,
        "last_error": "HTTP 500",
    }
    with db.transaction() as session:
        return int(session.execute(insert(DeliveryRow).values(row).returning(col(DeliveryRow.id))).scalar_one())


def agency_strangers(referral_api: ReferralApi, tracker_api: TrackerApi) -> dict[str, dict[str, str]]:
    """Headers of callers the referral service and the notifier must refuse (401): no credential, malformed
    ones, a real one in the wrong scheme, OUTSIDER's after it was revoked, and the tracker's coordinator."""
    revoked = referral_api.secrets[OUTSIDER]
    for credential in list_credentials(referral_api.ctx, agency_code=OUTSIDER):
        revoke_credential(referral_api.ctx, credential_id=credential.id)
    return {
        "none": {},
        "malformed": {"Authorization": "Bearer not-a-credential"},
        "forged": {"Authorization": "Bearer rjk_" + "x" * 43},
        "basic scheme": {"Authorization": f"Basic {referral_api.secrets[REQUESTER]}"},
        "revoked": {"Authorization": f"Bearer {revoked}"},
        "coordinator of the tracker": {"Authorization": f"Bearer {tracker_api.secrets[TrackerRole.COORDINATOR]}"},
    }


@pytest.fixture
def referral_schema(referral_api: ReferralApi) -> Any:
    schema = schemathesis.openapi.from_asgi("/openapi.json", referral_api.client.app)
    callers = itertools.cycle(sorted(referral_api.secrets.values()))
    schema.auth()(_cycling(callers))
    return schema


@pytest.fixture
def tracker_schema(tracker_api: TrackerApi) -> Any:
    schema = schemathesis.openapi.from_asgi("/openapi.json", tracker_api.client.app)
    schema.auth()(_cycling(itertools.cycle(sorted(tracker_api.secrets.values()))))
    return schema.exclude(path="/v1/stream")  # an endless event stream: covered by the tracker's own tests


@pytest.fixture
def notifier_schema(notifier_api: NotifierApi, referral_api: ReferralApi) -> Any:
    schema = schemathesis.openapi.from_asgi("/openapi.json", notifier_api.client.app)
    schema.auth()(_cycling(itertools.cycle(sorted(referral_api.secrets.values()))))
    return schema


def _cycling(callers: Any) -> type:
    class Cycling:
        """A different caller for each generated request (agencies, or coordinator and auditor)."""

        def get(self, case: Any, context: Any) -> str:
            return str(next(callers))

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return Cycling
