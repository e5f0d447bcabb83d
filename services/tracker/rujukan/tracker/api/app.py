"""``create_app(settings)``: the tracker's coordinator API, live stream and dashboard.

Building the app connects to nothing. The lifespan migrates the database and, unless disabled, runs the
consumer (and the SLA breach publisher) on background threads of the same process.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import OperationalError

from rujukan.core.db import Database, make_engine
from rujukan.core.http import install_problem_handlers, map_by_kind
from rujukan.core.http_limits import install_limits
from rujukan.tracker.access import InvalidQuery, NotFound, Unauthenticated
from rujukan.tracker.api import dashboard
from rujukan.tracker.api.routes import router
from rujukan.tracker.breaches import BreachPublisher, sweep
from rujukan.tracker.consumer import TrackerConsumer
from rujukan.tracker.live import ChangeHub
from rujukan.tracker.migrate import upgrade
from rujukan.tracker.settings import TrackerSettings

log = logging.getLogger("rujukan.tracker")
SWEEP_S = 10.0
DESCRIPTION = """
The coordinators' view of Rujukan: where every handoff stands, what is overdue, the funnel per agency
pair and Satu Data indicator 354. Subjects appear only as pseudonyms: the tracker holds no identifying
data. Every route but `/healthz` needs a coordinator or auditor credential
(`rujukan credentials issue --role coordinator --name NAME`).
"""


def sweep_forever(
    database: Database, settings: TrackerSettings, caught_up: threading.Event, stop: threading.Event
) -> None:
    """Look for clocks that ran past due without any event, every SWEEP_S seconds, while the consumer
    is caught up with the log (judging a lagging projection by the wall clock would invent breaches)."""
    policy = settings.sla_policy()
    while not stop.wait(SWEEP_S):
        if not caught_up.is_set():
            continue
        try:
            sweep(database, policy, now=dt.datetime.now(dt.UTC))
        except OperationalError:
            log.warning("SLA sweep: database unavailable; trying again later")


map_error = map_by_kind(
    [
        (Unauthenticated, 401, "Unauthenticated"),
        (NotFound, 404, "Not found"),
        (InvalidQuery, 422, "Invalid request"),
    ]
)


def create_app(settings: TrackerSettings, *, db: Database | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        database = db or Database(make_engine(settings.database_url()))
        upgrade(database.engine)
        app.state.db = database
        app.state.hub = hub = ChangeHub()
        stop = threading.Event()
        threads = []
        if settings.consumer_in_process:
            consumer = TrackerConsumer(database, settings, on_change=hub.publish)
            threads += [
                threading.Thread(target=consumer.run, args=(stop,), name="rujukan-tracker", daemon=True),
                threading.Thread(
                    target=BreachPublisher(database, settings).run,
                    args=(stop,),
                    name="rujukan-sla-publisher",
                    daemon=True,
                ),
                threading.Thread(
                    target=sweep_forever,
                    args=(database, settings, consumer.caught_up, stop),
                    name="rujukan-sla-sweep",
                    daemon=True,
                ),
            ]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            for thread in threads:
                thread.join(15)
            if db is None:
                database.engine.dispose()

    app = FastAPI(title="Rujukan tracker", version="1", description=DESCRIPTION, lifespan=lifespan)
    install_problem_handlers(app, map_error)
    install_limits(app, settings, max_body_bytes=16 * 1024)
    app.include_router(router)
    app.include_router(dashboard.router)

    @app.get("/healthz", tags=["health"], summary="Liveness")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
