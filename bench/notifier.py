"""Notifier rate: webhook deliveries/s to a fast local receiver (uvicorn, another process, answers 204),
next to its limit in the same run.

The deliveries are routed from generated events by the notifier's own applier into a SQLite notifier
database, then the dispatcher (default settings: 16 workers, 4 in flight per subscription) sends them
all; the figure is deliveries marked delivered per second of wall time, signature, HTTP and the
database update included. Four agencies receive, so the per-subscription cap is not the only limit.
The limit: the same number of threads POSTing the same signed bodies (Standard Webhooks signature made
for each) with the notifier's own HTTP client to the same receiver, and nothing else.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from ipaddress import ip_network
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from rujukan.core.broker import free_port, port_in_use
from rujukan.core.db import Database, make_engine
from rujukan.core.kafka.chain_consumer import BatchResult
from rujukan.notifier.dispatch import Dispatcher
from rujukan.notifier.intake import route_events
from rujukan.notifier.migrate import upgrade
from rujukan.notifier.models import DeliveryRow
from rujukan.notifier.sending import webhook_client
from rujukan.notifier.settings import NotifierSettings
from rujukan.notifier.signing import signature_headers
from rujukan.notifier.subscriptions import Owner, OwnerKind, set_subscription

AGENCIES = ["BAPAS-JAKTIM", "UPTD-PPA-DKI", "RSUD-KRAMATJATI", "LBH-APIK-JAKARTA"]
REQUESTER = "LAPAS-CIPINANG"
MAX_SECONDS = 300


def created(to_agency: str) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4(),
        "event_type": "ReferralCreated",
        "occurred_at": dt.datetime.now(dt.UTC),
        "referral_id": uuid.uuid4(),
        "case_id": uuid.uuid4(),
        "seq": 1,
        "actor_agency": REQUESTER,
        "from_agency": REQUESTER,
        "to_agency": to_agency,
        "service_type": "supervision",
        "urgency": "urgent",
        "parent_referral_id": None,
    }


def delivered(db: Database) -> int:
    with db.read() as session:
        return int(session.exec(select(func.count()).where(DeliveryRow.status == "delivered")).one())


def measure(*, deliveries: int = 5000) -> dict[str, Any]:
    port = free_port()
    receiver = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "uvicorn", "bench.receiver:app", "--port", str(port), "--log-level", "warning"],
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        deadline = time.monotonic() + 20
        while not port_in_use("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.1)
        with tempfile.TemporaryDirectory() as tmp:
            settings = NotifierSettings(
                _env_file=None,  # type: ignore[call-arg]
                data_dir=Path(tmp),
                webhook_allowed_networks=[ip_network("127.0.0.0/8")],
                webhook_allow_http=True,
            )
            db = Database(make_engine(settings.database_url()))
            upgrade(db.engine)
            for agency in AGENCIES:
                set_subscription(db, settings, Owner(OwnerKind.AGENCY, agency), url=f"http://127.0.0.1:{port}/{agency}")
            events = [(None, created(AGENCIES[i % len(AGENCIES)])) for i in range(deliveries)]
            with db.transaction() as session:
                route_events(session, events, lambda r, e: None, BatchResult(), clock=lambda: dt.datetime.now(dt.UTC))
            dispatcher = Dispatcher(db, settings)
            stop = threading.Event()
            thread = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True)
            start = time.perf_counter()
            thread.start()
            done = 0
            while done < deliveries and time.perf_counter() - start < MAX_SECONDS:
                time.sleep(0.2)
                done = delivered(db)
            seconds = time.perf_counter() - start
            stop.set()
            thread.join(30)
            db.engine.dispose()
            bare = bare_posts(f"http://127.0.0.1:{port}", deliveries, workers=settings.webhook_workers)
    finally:
        receiver.terminate()
        receiver.wait(10)
    return {
        "deliveries": deliveries,
        "delivered": done,
        "seconds": round(seconds, 2),
        "per_s": round(done / seconds, 1),
        "bare_signed_posts_per_s": round(bare, 1),
        "ratio_to_bare": round(done / seconds / bare, 3) if bare else 0.0,
        "workers": settings.webhook_workers,
        "max_in_flight_per_subscription": settings.webhook_max_in_flight,
    }


def bare_posts(base: str, count: int, *, workers: int) -> float:
    """POSTs/s of ``workers`` threads sending ``count`` signed bodies with the notifier's HTTP client (all
    answered 2xx, or the run stops): what the dispatcher would do with no database and no state."""
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    body = json.dumps({"type": "referral.created", "data": created(AGENCIES[0])}, default=str).encode()
    client = webhook_client(timeout_s=10, max_connections=workers * 2)

    def post(index: int) -> int:
        message_id = f"msg_{index}"
        headers = signature_headers([secret], message_id=message_id, timestamp=int(time.time()), body=body)
        answer = client.post(f"{base}/{AGENCIES[index % len(AGENCIES)]}", content=body, headers=headers)
        return answer.status_code

    try:
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            statuses = list(pool.map(post, range(count)))
        seconds = time.perf_counter() - start
    finally:
        client.close()
    if any(status // 100 != 2 for status in statuses):
        raise SystemExit(f"the receiver refused bare POSTs: {sorted(set(statuses))}")
    return count / seconds


def report(r: dict[str, Any]) -> str:
    return (
        f"webhook deliveries to a fast local receiver: {r['per_s']:,.0f}/s "
        f"({r['delivered']:,} of {r['deliveries']:,} in {r['seconds']} s; {r['workers']} workers, "
        f"{r['max_in_flight_per_subscription']} in flight per subscription, SQLite); "
        f"bare signed POSTs to the same receiver {r['bare_signed_posts_per_s']:,.0f}/s ({r['ratio_to_bare']:.0%})"
    )
