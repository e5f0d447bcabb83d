"""``rujukan up``: the whole embedded system on one address, supervised.

One process serves the referral API, the tracker (coordinator API and dashboard) and the notifier API
behind a single address; three worker processes run the relay, the tracker's consumer and SLA clocks, and
the notifier (:mod:`rujukan.cli.workers`), so that the loops use the second core instead of the API's. The broker
(and PostgreSQL, with ``--postgres``) and the workers are child processes, each restarted if it dies
(after a broker restart the relay refills its log from the event store, and the consumers deduplicate).
Ctrl-C stops everything in order: the API, the workers, then the broker.

Paths: ``/v1/referrals``, ``/v1/subjects``, ``/v1/me`` go to the referral service; ``/v1/subscription``
and ``/v1/deliveries`` to the notifier; everything else (the dashboard at ``/``, ``/v1/handoffs`` ...)
to the tracker. Each service is also reachable under its own prefix (``/referral/docs``,
``/tracker/docs``, ``/notifier/docs``); ``/docs`` is the agency API's documentation.

The data directory keeps the SQLite databases, the master key, ``credentials.json`` (0600: the
dashboard's coordinator and auditor credentials, and the demo agencies' ones) and, while the system
runs, ``running.json`` (the addresses other commands given the same ``--data-dir`` use).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from sqlmodel import select
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from rujukan.cli.backing import Backing, BrokerKind, start_backing, supervise
from rujukan.cli.data_dir import DataDir, notifier_settings, referral_settings, tracker_settings
from rujukan.cli.demo import DemoError, run_demo
from rujukan.cli.output import configure_logging, err, fail
from rujukan.cli.system import CREDENTIALS, RUNNING, local_webhooks, read_json, running_system, write_private
from rujukan.cli.webhook_inbox import WebhookInbox
from rujukan.cli.workers import Role, WorkerProcess
from rujukan.core.broker import port_in_use
from rujukan.core.credentials import CSRF_HEADER
from rujukan.core.db import Database, make_engine
from rujukan.core.health import answer, joined
from rujukan.core.metrics import exposition
from rujukan.notifier.api.app import create_app as notifier_app
from rujukan.notifier.errors import Forbidden as NotifierForbidden
from rujukan.notifier.errors import Unauthenticated as NotifierUnauthenticated
from rujukan.notifier.migrate import upgrade as notifier_upgrade
from rujukan.notifier.models import SubscriptionRow
from rujukan.notifier.subscriptions import signing_secrets
from rujukan.referral.api.app import build_context
from rujukan.referral.api.app import create_app as referral_app
from rujukan.referral.errors import Unauthenticated as ReferralUnauthenticated
from rujukan.referral.migrate import upgrade as referral_upgrade
from rujukan.referral.pathways import ensure_templates
from rujukan.referral.staff import agency_of_secret, csrf_matches, session_staff
from rujukan.tracker.access import TrackerRole, issue_tracker_credential
from rujukan.tracker.api.app import create_app as tracker_app
from rujukan.tracker.migrate import upgrade as tracker_upgrade

log = logging.getLogger("rujukan.up")
DEMO_SLA_HOURS = {"emergency": (0.02, 0.05), "urgent": (0.05, 0.1), "routine": (72.0, 168.0)}

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


def staff_credentials(data_dir: Path, tracker_db: Database) -> dict[str, Any]:
    """The dashboard's coordinator and auditor credentials, issued on the first run and kept 0600."""
    path = data_dir / CREDENTIALS
    stored = read_json(path)
    for role, name in (
        (TrackerRole.COORDINATOR, "Koordinator (rujukan up)"),
        (TrackerRole.AUDITOR, "Auditor (rujukan up)"),
    ):
        if role.value not in stored:
            stored[role.value] = issue_tracker_credential(tracker_db, role=role, name=name)[1]
    write_private(path, stored)
    return stored


# -- one address for every service ------------------------------------------------------------------
REFERRAL_PATHS = (
    "/v1/referrals",
    "/v1/subjects",
    "/v1/me",
    "/v1/transparency",
    "/v1/directory",
    "/v1/pathway-templates",
    "/v1/follow-ups",
    "/fhir",
    "/agency",
    "/docs",
    "/redoc",
    "/openapi.json",
)
NOTIFIER_PATHS = ("/v1/subscription", "/v1/deliveries")


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


class OneAddress:
    """An ASGI app routing by path to the services' own apps and running all their lifespans; ``/readyz``
    joins the three services' readiness and the ``backing`` checks (broker, PostgreSQL), ``/metrics``
    shows every metric of the process."""

    def __init__(
        self,
        referral: Any,
        tracker: Any,
        notifier: Any,
        extra: dict[str, Asgi] | None = None,
        backing: Callable[[], dict[str, str]] | None = None,
        workers: Callable[[], list[WorkerProcess]] | None = None,
    ) -> None:
        self._apps = {"/referral": referral, "/tracker": tracker, "/notifier": notifier}
        self._referral, self._tracker, self._notifier = referral, tracker, notifier
        self._extra = extra or {}
        self._backing = backing or dict
        self._workers = workers or list

    def readiness(self) -> dict[str, str]:
        services = [(name.strip("/"), getattr(app.state, "readiness", None)) for name, app in self._apps.items()]
        checks = joined((name, found) for name, found in services if found is not None)
        if not checks:
            return {"services": "starting"}
        for worker in self._workers():
            checks.update(worker.checks())
        return {**self._backing(), **checks}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path: str = scope["path"]
        if path in ("/readyz", "/metrics"):
            await self._health(path, scope, receive, send)
            return
        for prefix, app in self._apps.items():
            if _under(path, prefix):
                await app({**scope, "root_path": scope.get("root_path", "") + prefix}, receive, send)
                return
        for prefix, extra in self._extra.items():
            if _under(path, prefix):
                # bandit B610 (Django's QuerySet.extra) misreads this call of an ASGI app named extra
                await extra(scope, receive, send)  # nosec B610
                return
        if any(_under(path, p) for p in REFERRAL_PATHS):
            await self._referral(scope, receive, send)
        elif any(_under(path, p) for p in NOTIFIER_PATHS):
            await self._notifier(scope, receive, send)
        else:
            await self._tracker(scope, receive, send)

    async def _health(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        if path == "/readyz":
            response: Response = answer(await run_in_threadpool(self.readiness))
        else:
            body, content_type = exposition(worker.metrics() for worker in self._workers())
            response = Response(body, media_type=content_type)
        await response(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        async with contextlib.AsyncExitStack() as stack:
            try:
                for app in (self._referral, self._tracker, self._notifier):
                    await stack.enter_async_context(app.router.lifespan_context(app))
            except Exception as exc:  # a service that cannot start: uvicorn reports it and exits
                await send({"type": "lifespan.startup.failed", "message": type(exc).__name__})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})


def up(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the dashboard and every API.", min=1, max=65535)] = 8080,
    broker: Annotated[
        BrokerKind, typer.Option(help="embedded (in memory, no Java) or kafka (local Apache Kafka, log kept).")
    ] = BrokerKind.EMBEDDED,
    broker_port: Annotated[int, typer.Option(help="Port of the broker (default: a free one).", min=0, max=65535)] = 0,
    kafka_bootstrap: Annotated[
        str | None, typer.Option(help="Use an existing Kafka cluster (HOST:PORT,...) and start no broker.")
    ] = None,
    postgres: Annotated[
        bool, typer.Option("--postgres", help="Every service on an embedded PostgreSQL kept in the data dir.")
    ] = False,
    demo: Annotated[bool, typer.Option("--demo", help="Register demo agencies and drive demo journeys.")] = False,
) -> None:
    """Run everything (broker, referral service, relay, tracker, notifier, dashboard) on one address."""
    data = (data_dir or referral_settings(None).data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    configure_logging(kafka_log=data / "kafka-clients.log")
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    _refuse_a_second_start(data, host, port)
    base_url = f"http://{host}:{port}"
    backing = start_backing(
        data, kind=broker, broker_port=broker_port, kafka_bootstrap=kafka_bootstrap, postgres=postgres
    )
    stop = threading.Event()
    supervisor: threading.Thread | None = None
    workers = {role.value: WorkerProcess(role, data, env=_worker_env(role, demo=demo)) for role in Role}
    try:
        app = _compose(data, backing, base_url, demo=demo, workers=list(workers.values()))
        supervisor = _supervised(data, backing, base_url, stop, workers)
        if demo:
            threading.Thread(target=_demo_when_ready, args=(data, base_url), name="demo", daemon=True).start()
        err.print(_banner(data, base_url, backing, demo=demo), markup=False, highlight=False)
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)
    finally:
        # The workers first, while the supervisor thread lives: a broker it restarted dies with that thread
        # (PR_SET_PDEATHSIG follows the thread that started it), and the workers still talk to the broker.
        stopping = [threading.Thread(target=w.stop, name=f"stop-{n}") for n, w in workers.items()]  # retired
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()
        stop.set()
        if supervisor is not None:
            supervisor.join(10)  # no restart can race the stop below
        backing.stop()
        with contextlib.suppress(OSError):
            (data / RUNNING).unlink()
        err.print("Rujukan stopped", markup=False)


def _refuse_a_second_start(data: Path, host: str, port: int) -> None:
    already = running_system(data)
    if already is not None:
        fail(f"Rujukan already runs on {data} (pid {already['pid']}, {already.get('http')}); stop it first")
    if port_in_use(host, port):
        fail(f"port {port} on {host} is in use; choose another with --port")


def _supervised(
    data: Path, backing: Backing, base_url: str, stop: threading.Event, workers: dict[str, WorkerProcess]
) -> threading.Thread:
    """Record the running system in ``running.json``, start the workers (which find the broker and the
    databases there) and the supervisor, which restarts a dead broker, PostgreSQL or worker (and records
    the new pids) until ``stop``."""

    def record() -> None:
        children = {**backing.children(), **workers}
        pids = {f"{name}_pid": child.pid for name, child in children.items() if child.pid is not None}
        running = {"pid": os.getpid(), "http": base_url, "broker": backing.bootstrap, **pids}
        write_private(data / RUNNING, {**running, "databases": backing.databases})

    record()
    for worker in workers.values():
        worker.start()
    record()
    supervisor = threading.Thread(
        target=supervise, args=(backing, stop, record, workers), name="supervisor", daemon=True
    )
    supervisor.start()
    return supervisor


def _banner(data: Path, base_url: str, backing: Backing, *, demo: bool) -> str:
    lines = [
        f"Rujukan is up on {base_url}",
        f"  dashboard      {base_url}/  (coordinator credential in {data / CREDENTIALS})",
        f"  agency inbox   {base_url}/agency/  (staff secrets: rujukan staff add)",
        f"  agency API     {base_url}/docs",
        f"  FHIR R4        {base_url}/fhir/r4 (metadata: {base_url}/fhir/r4/metadata)",
        f"  tracker API    {base_url}/tracker/docs",
        f"  notifier API   {base_url}/notifier/docs",
        f"  health         {base_url}/readyz (200 when every part works), metrics at {base_url}/metrics",
        f"  broker         {backing.describe()}",
        f"  databases      {'PostgreSQL in ' + str(data / 'postgres') if backing.postgres else 'SQLite files'}",
        f"  data           {data}",
    ]
    if demo:
        lines.append(
            f"  demo           agency credentials and staff secrets (inbox) in {data / CREDENTIALS},"
            f" webhooks at {base_url}/demo/webhooks"
        )
    return "\n".join([*lines, "Ctrl-C stops everything."])


def _compose(data: Path, backing: Backing, base_url: str, *, demo: bool, workers: list[WorkerProcess]) -> OneAddress:
    env_sla = "RUJUKAN_SLA_HOURS" in os.environ
    bootstrap, urls = backing.bootstrap, backing.databases
    referral = referral_settings(data).model_copy(
        update={"kafka_bootstrap": bootstrap, "relay_in_process": False, **_database(urls, "referral")}
    )
    tracker = tracker_settings(data).model_copy(
        update={"kafka_bootstrap": bootstrap, "consumer_in_process": False, **_database(urls, "tracker")}
    )
    if demo and not env_sla:  # both: the referral service writes the due times into its events
        referral = referral.model_copy(update={"sla_hours": DEMO_SLA_HOURS})
        tracker = tracker.model_copy(update={"sla_hours": DEMO_SLA_HOURS})
    notifier = local_webhooks(
        notifier_settings(data).model_copy(
            update={"kafka_bootstrap": bootstrap, "referral_url": base_url, **_database(urls, "notifier")}
        )
    )
    ctx = build_context(referral)
    referral_upgrade(ctx.engine)
    ensure_templates(ctx)
    tracker_db = Database(make_engine(tracker.database_url()))
    tracker_upgrade(tracker_db.engine)
    staff_credentials(data, tracker_db)

    class AgencyOf:
        """The notifier's check of agency callers, in process: a credential (an agency system's or a
        person's) or an inbox session, each as the referral API would take it."""

        def __call__(self, secret: str) -> str:
            try:
                return agency_of_secret(ctx, secret=secret)[0]
            except ReferralUnauthenticated as exc:
                raise NotifierUnauthenticated(str(exc)) from exc

        def session(self, token: str, csrf: str) -> str:
            try:
                agency = session_staff(ctx, token=token).agency_code
            except ReferralUnauthenticated as exc:
                raise NotifierUnauthenticated(str(exc)) from exc
            if not csrf_matches(token, csrf):
                raise NotifierForbidden(f"a request made in an inbox session needs its {CSRF_HEADER} header")
            return agency

    agency_of = AgencyOf()

    notifier_db = Database(make_engine(notifier.database_url()))
    notifier_upgrade(notifier_db.engine)
    box = notifier.secret_box()

    def secrets_of(owner: str) -> list[str]:
        with notifier_db.read() as session:
            found = session.exec(select(SubscriptionRow).where(SubscriptionRow.owner == owner)).first()
            return signing_secrets(session, found.id, dt.datetime.now(dt.UTC), box) if found is not None else []

    return OneAddress(
        referral_app(referral, context=ctx),
        tracker_app(tracker, db=tracker_db),
        notifier_app(notifier, db=notifier_db, agency_check=agency_of, run_notifier=False),
        extra={"/demo/webhooks": WebhookInbox(secrets_of)},
        backing=backing.checks,
        workers=lambda: workers,
    )


def _worker_env(role: Role, *, demo: bool) -> dict[str, str]:
    """The tracker worker's sweep judges the demo's SLA clocks as the demo's referral service wrote them."""
    if role is Role.TRACKER and demo and "RUJUKAN_SLA_HOURS" not in os.environ:
        return {"RUJUKAN_SLA_HOURS": json.dumps(DEMO_SLA_HOURS)}
    return {}


def _database(urls: dict[str, str], service: str) -> dict[str, str]:
    """The settings update that points ``service`` at its embedded PostgreSQL database, if there is one."""
    return {f"{service}_database_url": urls[service]} if service in urls else {}


def _demo_when_ready(data: Path, base_url: str) -> None:
    try:
        run_demo(data, base_url, progress=False)
    except Exception as exc:  # the system keeps running; the demo says why it stopped
        log.warning("the demo stopped: %s", exc if isinstance(exc, DemoError) else type(exc).__name__)
