"""``create_app(settings)``: the referral service's FastAPI application.

Building the app connects to nothing; the database is migrated and the referral_loops (the relay and the
disclosure outbox, when they run in-process) started under a supervisor in the lifespan, and stopped
again on shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from rujukan.core.db import make_engine
from rujukan.core.health import Readiness, install_health
from rujukan.core.http_limits import install_limits
from rujukan.core.loops import Supervisor
from rujukan.referral.api import problems
from rujukan.referral.api.directory_routes import router as directory_router
from rujukan.referral.api.follow_up_routes import router as follow_up_router
from rujukan.referral.api.inbox_routes import router as inbox_router
from rujukan.referral.api.pathway_routes import router as pathway_router
from rujukan.referral.api.routes import router
from rujukan.referral.api.subject_routes import router as subject_router
from rujukan.referral.api.transparency_routes import router as transparency_router
from rujukan.referral.context import ReferralContext
from rujukan.referral.fhir.outcome import FhirOutcomes
from rujukan.referral.fhir.routes import router as fhir_router
from rujukan.referral.migrate import upgrade
from rujukan.referral.relay import referral_loops
from rujukan.referral.settings import ReferralSettings
from rujukan.referral.transparency import adopt_log, refused_alarm

DESCRIPTION = """
The agency-facing API of Rujukan. Every route but `/healthz`, `/readyz` and `/metrics` needs
`Authorization: Bearer <credential>` (see `rujukan credentials issue`). Errors are RFC 9457
`application/problem+json`. A referral that exists but concerns another agency answers 404, exactly
like one that does not exist.
"""


def build_context(settings: ReferralSettings) -> ReferralContext:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return ReferralContext(
        engine=make_engine(settings.database_url()),
        master_key=settings.load_master_key(),
        signing=settings.load_signing_keys(),
        max_page_size=settings.max_page_size,
        sla=settings.sla_policy(),
    )


def create_app(settings: ReferralSettings, *, context: ReferralContext | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = context or build_context(settings)
        upgrade(ctx.engine)
        adopt_log(ctx)
        app.state.context = ctx
        loops = referral_loops(ctx, settings) if settings.relay_in_process else Supervisor()
        app.state.readiness = Readiness(
            database=ctx.engine, supervisor=loops.start(), alarms={"event_store": lambda: refused_alarm(ctx)}
        )
        try:
            yield
        finally:
            loops.stop()
            ctx.close()
            if context is None:
                ctx.engine.dispose()

    app = FastAPI(title="Rujukan referral service", version="1", description=DESCRIPTION, lifespan=lifespan)
    problems.install(app)
    install_limits(app, settings, max_body_bytes=settings.max_body_bytes)
    app.include_router(follow_up_router)  # before the lifecycle actions: follow-ups is no action
    app.include_router(router)
    app.include_router(subject_router)
    app.include_router(transparency_router)
    app.include_router(directory_router)
    app.include_router(pathway_router)
    app.include_router(fhir_router)
    app.include_router(inbox_router)
    # added last, so outside the rate and size limits: their refusals too become OperationOutcomes, and it
    # answers an unexpected error on a FHIR path itself (the app's catch-all handler sits outside it)
    app.add_middleware(FhirOutcomes)
    install_health(app, service="referral")
    return app
