"""Fixtures of the referral service tests: a migrated database of each backend, agencies, credentials,
and an HTTP client on the real app (no relay unless a test starts one)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import col, select

from rujukan.core.db import make_engine
from rujukan.core.vocabulary import AgencyKind, ServiceType
from rujukan.referral.api.app import create_app
from rujukan.referral.context import ReferralContext
from rujukan.referral.migrate import upgrade
from rujukan.referral.models import ReferralEvent
from rujukan.referral.registry import AgencyIn, add_agency, issue_credential
from rujukan.referral.settings import ReferralSettings
from tests.databases import BACKENDS, database_url

MASTER_KEY_B64 = base64.b64encode(bytes(range(32))).decode()
AGENCIES = [
    AgencyIn(code="LAPAS-CIPINANG", name="Lapas Kelas I Cipinang", kind=AgencyKind.CORRECTIONS, region_code="31.75"),
    AgencyIn(code="BAPAS-JAKTIM", name="Bapas Jakarta Timur", kind=AgencyKind.CORRECTIONS, region_code="31.75"),
    AgencyIn(code="KEMENSOS-HANDAYANI", name="Sentra Handayani", kind=AgencyKind.MINISTRY, region_code="31.75"),
    AgencyIn(
        code="RSUD-KRAMATJATI",
        name="RSUD Kramat Jati",
        kind=AgencyKind.HEALTH,
        region_code="31.75",
        services=[ServiceType.HEALTH_CARE, ServiceType.MENTAL_HEALTH],
    ),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path) -> Iterator[ReferralSettings]:
    with database_url(backend, tmp_path) as url:
        yield ReferralSettings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=tmp_path / "data",
            referral_database_url=url,
            relay_in_process=False,
            master_key=SecretStr(MASTER_KEY_B64),
            max_page_size=100,
        )


@pytest.fixture
def ctx(settings: ReferralSettings) -> Iterator[ReferralContext]:
    engine = make_engine(settings.database_url())
    upgrade(engine)
    context = ReferralContext(
        engine=engine, master_key=settings.load_master_key(), signing=settings.load_signing_keys(), max_page_size=100
    )
    for agency in AGENCIES:
        add_agency(context, agency=agency)
    yield context
    engine.dispose()


@dataclass
class Agencies:
    """Bearer headers per agency code."""

    headers: dict[str, dict[str, str]]

    def __getitem__(self, code: str) -> dict[str, str]:
        return self.headers[code]


@pytest.fixture
def agencies(ctx: ReferralContext) -> Agencies:
    return Agencies(
        {a.code: {"Authorization": f"Bearer {issue_credential(ctx, agency_code=a.code).secret}"} for a in AGENCIES}
    )


@pytest.fixture
def client(settings: ReferralSettings, ctx: ReferralContext) -> Iterator[TestClient]:
    with TestClient(create_app(settings, context=ctx), raise_server_exceptions=False) as test_client:
        yield test_client


SUBJECT: dict[str, Any] = {
    "full_name": "Budi Santoso Fiktif",
    "nik": "3175010101900001",
    "birth_date": "1990-01-01",
    "sex": "male",
    "category": "inmate_pre_release",
    "region_code": "31.75",
    "phone": "+62 812 0000 0001",
}


def referral_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "to_agency": "BAPAS-JAKTIM",
        "service_type": "supervision",
        "urgency": "urgent",
        "reason": "Bebas bersyarat bulan depan",
        "legal_basis": "legal_obligation",
        "subject": dict(SUBJECT),
    }
    body.update(changes)
    return body


def wait_until_published(ctx: ReferralContext, *, timeout: float = 30) -> None:
    """Poll until the relay has marked every event of the store published."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with ctx.read() as session:
            if session.exec(select(ReferralEvent).where(col(ReferralEvent.published_at).is_(None))).first() is None:
                return
        time.sleep(0.1)
    raise AssertionError("events still unpublished")
