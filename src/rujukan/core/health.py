"""Liveness, readiness and metrics routes of every Rujukan API.

- ``GET /healthz``: liveness: the process answers. Nothing else.
- ``GET /readyz``: 200 when every background loop of the service is alive and not failing for more than
  a few seconds, its database answers, each consumer is within ``max_lag`` messages of the log end
  (and can see the broker), and no alarm of the service is raised (such as events refused by the relay
  for a missing or bad signature); otherwise 503. The JSON body names each part and what is wrong with it:
  ``{"status": "not ready", "checks": {"database": "ok", "relay": "failing for 12 s (KafkaConnectionError)"}}``.
- ``GET /metrics``: the Prometheus exposition of the process (:mod:`rujukan.core.metrics`).

A service puts a :class:`Readiness` in ``app.state.readiness`` in its lifespan; ``rujukan up`` joins the
three services' into one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from rujukan.core import metrics
from rujukan.core.loops import Supervisor

OK = "ok"
GRACE_S = 5.0  # a loop may fail this long (a blip) before readiness says so
MAX_LAG = 1000  # messages a consumer may be behind and still count as ready


@dataclass
class Readiness:
    """What one service's readiness is made of."""

    database: Engine | None = None
    supervisor: Supervisor | None = None
    consumers: frozenset[str] = field(default_factory=frozenset)  # loop names whose backlog is a lag
    max_lag: int = MAX_LAG
    alarms: dict[str, Callable[[], str | None]] = field(default_factory=dict)  # name -> a problem, or None

    def checks(self) -> dict[str, str]:
        found: dict[str, str] = {}
        if self.database is not None:
            found["database"] = _database(self.database)
        if self.supervisor is not None:
            now = time.monotonic()
            for name, state in self.supervisor.states.items():
                problem = state.problem(now, grace_s=GRACE_S)
                if problem is None and name in self.consumers:
                    problem = _lag(state.backlog, state.probe_failing_since, now, self.max_lag)
                found[name] = problem or OK
        for name, alarm in self.alarms.items():
            found[name] = _alarm(alarm)
        return found


def joined(parts: Iterable[tuple[str, Readiness]]) -> dict[str, str]:
    """The checks of several services, each name prefixed with its service's."""
    return {f"{service}.{name}": result for service, readiness in parts for name, result in readiness.checks().items()}


def answer(checks: dict[str, str]) -> JSONResponse:
    ready = all(result == OK for result in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503, headers={"cache-control": "no-store"})


def _database(engine: Engine) -> str:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return f"not answering ({type(getattr(exc, 'orig', None) or exc).__name__})"
    return OK


def _alarm(alarm: Callable[[], str | None]) -> str:
    try:
        return alarm() or OK
    except SQLAlchemyError as exc:
        return f"cannot be checked ({type(getattr(exc, 'orig', None) or exc).__name__})"


def _lag(backlog: int | None, probe_failing_since: float | None, now: float, max_lag: int) -> str | None:
    if probe_failing_since is not None and now - probe_failing_since > GRACE_S:
        return f"cannot see the broker for {now - probe_failing_since:.0f} s"
    if backlog is not None and backlog > max_lag:
        return f"{backlog} messages behind the log end (more than {max_lag})"
    return None


def install_health(app: FastAPI, *, service: str) -> None:
    """``/healthz``, ``/readyz`` and ``/metrics`` on ``app``, and its answers timed in the metrics."""
    app.add_middleware(metrics.TimedRequests, service=service)

    @app.get("/healthz", tags=["health"], summary="Liveness")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Readiness: loops alive, database answering, consumers near the log end",
        responses={503: {"description": "Not ready: the body names each failing part"}},
    )
    def readyz(request: Request) -> JSONResponse:
        readiness: Readiness | None = getattr(request.app.state, "readiness", None)
        return answer(readiness.checks() if readiness is not None else {"service": "starting"})

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def prometheus() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)
