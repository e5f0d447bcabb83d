"""``create_app(settings)``: the tracker's coordinator API, live stream and dashboard.

Building the app connects to nothing. The lifespan migrates the database and, unless disabled, runs the
consumer (and the SLA breach publisher) on background threads of the same process; when the consumer runs
elsewhere, the live stream follows the change feed it writes.
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
from rujukan.tracker.api import dashboard
from rujukan.tracker.api.routes import router
from rujukan.tracker.changes import ChangeFollower
from rujukan.tracker.errors import InvalidQuery, NotFound, Unauthenticated
from rujukan.tracker.live import ChangeHub
from rujukan.tracker.loops import CONSUMER_LOOP, DIRECTORY_LOOP, tracker_loops
from rujukan.tracker.migrate import upgrade
from rujukan.tracker.settings import TrackerSettings

log = logging.getLogger("rujukan.tracker")
DESCRIPTION = """
The coordinators' view of Rujukan: where every handoff stands, what is overdue, the funnel per agency
pair and Satu Data indicator 354. Subjects appear only as pseudonyms: the tracker holds no identifying
data. Every route but `/healthz`, `/readyz` and `/metrics` needs a coordinator or auditor credential
(`rujukan credentials issue --role coordinator --name NAME`).
"""


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
        in_process = settings.consumer_in_process
        loops = tracker_loops(database, settings, on_change=hub.publish) if in_process else Supervisor()
        follower = None if in_process else ChangeFollower(database, hub.publish, hub.has_subscribers).start()
        app.state.readiness = Readiness(
            database=database.engine, supervisor=loops.start(), consumers=frozenset({CONSUMER_LOOP, DIRECTORY_LOOP})
        )
        try:
            yield
        finally:
            loops.stop()
            if follower is not None:
                follower.stop()
            if db is None:
                database.engine.dispose()

    app = FastAPI(title="Rujukan tracker", version="1", description=DESCRIPTION, lifespan=lifespan)
    install_problem_handlers(app, map_error)
    install_limits(app, settings, max_body_bytes=16 * 1024)
    app.include_router(router)
    app.include_router(dashboard.router)
    install_health(app, service="tracker")
    return app
