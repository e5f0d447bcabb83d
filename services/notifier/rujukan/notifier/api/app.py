"""``create_app(settings)``: the notifier API, with the consumers and the dispatcher in the same process.

Building the app connects to nothing. The lifespan migrates the database and, unless told not to, runs
the notifier's parts (consumers, dispatcher, dead-letter publisher) on background threads.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from rujukan.core.db import Database, make_engine
from rujukan.core.health import Readiness, install_health
from rujukan.core.http import install_problem_handlers, map_by_kind
from rujukan.core.http_limits import install_limits
from rujukan.core.loops import Supervisor
from rujukan.notifier.api.auth import AgencyCheck, ReferralServiceCheck
from rujukan.notifier.api.routes import router
from rujukan.notifier.errors import (
    CheckUnavailable,
    Forbidden,
    InvalidSubscription,
    NoDelivery,
    NoSubscription,
    NotRedeliverable,
    Unauthenticated,
    UnsafeDestination,
)
from rujukan.notifier.migrate import upgrade
from rujukan.notifier.service import CONSUMER_LOOPS, Notifier
from rujukan.notifier.settings import NotifierSettings

log = logging.getLogger("rujukan.notifier")
DESCRIPTION = """
Webhooks from Rujukan to agency systems. Each agency sets its own subscription (URL, event types) and
gets a signing secret (Standard Webhooks). Deliveries are signed (`webhook-id`, `webhook-timestamp`,
`webhook-signature`), retried with exponential back-off and jitter for 72 hours, and listed in the
delivery log, from which a failed one can be sent again. Payloads are thin: codes, ids and statuses;
details are fetched from the referral API with the agency's own credential. Every route but `/healthz`,
`/readyz` and `/metrics` needs the agency's credential.
"""


map_error = map_by_kind(
    [
        (Unauthenticated, 401, "Unauthenticated"),
        (Forbidden, 403, "Forbidden"),
        (NoSubscription, 404, "Not found"),
        (NoDelivery, 404, "Not found"),
        (NotRedeliverable, 409, "Conflict"),
        (InvalidSubscription, 422, "Invalid request"),
        (UnsafeDestination, 422, "Invalid request"),
        (CheckUnavailable, 503, "Service unavailable"),
    ]
)


def create_app(
    settings: NotifierSettings,
    *,
    db: Database | None = None,
    agency_check: AgencyCheck | None = None,
    run_notifier: bool = True,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        database = db or Database(make_engine(settings.database_url()))
        upgrade(database.engine)
        app.state.db = database
        app.state.settings = settings
        check = agency_check or ReferralServiceCheck(settings.referral_url)
        app.state.agency_check = check
        loops = Notifier(database, settings).supervisor() if run_notifier else Supervisor()
        app.state.readiness = Readiness(
            database=database.engine, supervisor=loops.start(), consumers=frozenset(CONSUMER_LOOPS)
        )
        try:
            yield
        finally:
            loops.stop()
            if isinstance(check, ReferralServiceCheck):
                check.close()
            if db is None:
                database.engine.dispose()

    app = FastAPI(title="Rujukan notifier", version="1", description=DESCRIPTION, lifespan=lifespan)
    install_problem_handlers(app, map_error)
    install_limits(app, settings, max_body_bytes=16 * 1024)
    app.include_router(router)
    install_health(app, service="notifier")
    return app
