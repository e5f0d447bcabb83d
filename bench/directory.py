"""Matching over a large directory: ``GET /v1/directory/match`` latency with 10,000 services, measured with
wrk against ``rujukan referral serve`` (SQLite) on one connection (each request alone: the latency a
caseworker waits) and on 16 (the rate it sustains).

Two directories of 10,000 entries each: ``mixed`` (625 agencies x 16 service types: a match reads the
625 of its type) and ``one type`` (10,000 agencies offering the same service: the worst case, a match reads
them all). Entries get random regions across 34 provinces, eligibility, capacity and waitlists; the
setup writes them in one transaction with the use case's own row filling (what is measured is the match).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import tempfile
import uuid
from pathlib import Path
from typing import Any

from bench import wrk
from bench.ingest import server
from rujukan.core.broker import EmbeddedBroker
from rujukan.core.db import make_engine
from rujukan.core.sealing import MasterKey
from rujukan.core.signatures import SigningKeys
from rujukan.core.vocabulary import AgencyKind, ServiceType, SubjectCategory, Waitlist
from rujukan.referral.context import ReferralContext
from rujukan.referral.directory import fill_row
from rujukan.referral.directory_models import CapacityIn, DirectoryServiceIn, Eligibility
from rujukan.referral.migrate import upgrade
from rujukan.referral.models import Agency, DirectoryEntry
from rujukan.referral.registry import AgencyIn, add_agency, issue_credential

SERVICES = 10_000
PROVINCES = [f"{code:02d}" for code in range(11, 95)][:34]
QUERY = "service_type=supervision&region_code=31.75&category=ex_inmate&age=34&sex=male"


def _entry(rng: random.Random) -> DirectoryServiceIn:
    province = rng.choice(PROVINCES)
    regions = [] if rng.random() < 0.1 else [province if rng.random() < 0.5 else f"{province}.{rng.randint(1, 79):02d}"]
    categories = [] if rng.random() < 0.5 else rng.sample([c.value for c in SubjectCategory], 3)
    maximum = rng.randint(5, 200)
    return DirectoryServiceIn(
        name="Layanan uji",
        description="Layanan untuk pengukuran pencocokan",
        eligibility=Eligibility.model_validate({"categories": categories, "min_age": rng.choice([None, 18])}),
        regions=regions,
        capacity=CapacityIn(
            available=rng.choice([0, rng.randint(0, maximum)]),
            maximum=maximum,
            unit="places",
            waitlist=rng.choice(list(Waitlist)),
        ),
    )


def prepare(url: str, key: bytes, *, one_type: bool) -> str:
    """A referral database with ``SERVICES`` directory entries; the credential of an agency to match with."""
    engine = make_engine(url)
    upgrade(engine)
    ctx = ReferralContext(engine=engine, master_key=MasterKey(key), signing=SigningKeys.generate("bench.local/log"))
    add_agency(
        ctx, agency=AgencyIn(code="LAPAS-CIPINANG", name="Lapas", kind=AgencyKind.CORRECTIONS, region_code="31.75")
    )
    rng = random.Random(20261202)  # noqa: S311 - a reproducible directory, not a secret
    services = [ServiceType.SUPERVISION] if one_type else list(ServiceType)
    agencies = SERVICES // len(services)
    now = dt.datetime.now(dt.UTC)
    with ctx.transaction() as session:
        for number in range(agencies):
            code = f"AGENCY-{number:05d}"
            session.add(Agency(code=code, name=code, kind="cso", region_code="31", created_at=now))
            for service in services:
                row = DirectoryEntry(
                    agency_code=code,
                    service_type=service.value,
                    id=str(uuid.uuid4()),
                    name="",
                    description="",
                    updated_at=now,
                )
                fill_row(row, _entry(rng), now)
                session.add(row)
    secret = issue_credential(ctx, agency_code="LAPAS-CIPINANG").secret
    engine.dispose()
    return secret


def measure(*, seconds: float = 10) -> dict[str, Any]:
    key = os.urandom(32)
    results: dict[str, Any] = {"services": SERVICES, "query": QUERY, "load_generator": "wrk"}
    with EmbeddedBroker() as broker:
        for name, one_type in (("mixed", False), ("one_type", True)):
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite:///{Path(tmp) / 'referral.db'}"
                token = prepare(url, key, one_type=one_type)
                with server(url, key, broker.bootstrap, Path(tmp)) as base:
                    target = f"{base}/v1/directory/match?{QUERY}"
                    headers = {"Authorization": f"Bearer {token}"}
                    wrk.run(target, body=None, headers=headers, connections=1, seconds=2, method="GET")  # warm-up
                    results[name] = {
                        "alone": wrk.run(
                            target, body=None, headers=headers, connections=1, seconds=seconds, method="GET"
                        ),
                        "16_connections": wrk.run(
                            target, body=None, headers=headers, connections=16, seconds=seconds, method="GET"
                        ),
                    }
    return results


def report(results: dict[str, Any]) -> str:
    lines = [f"match over {results['services']:,} directory services (wrk; {results['query']})"]
    for name in ("mixed", "one_type"):
        for load, figures in results[name].items():
            lines.append(
                f"  {name:<9} {load:<15} {figures['ok_per_s']:>8,.1f} matches/s  p50 {figures['p50_ms']:.1f} ms"
                f"  p95 {figures['p95_ms']:.1f} ms  p99 {figures['p99_ms']:.1f} ms  errors {figures['errors']}"
            )
    return "\n".join(lines)
