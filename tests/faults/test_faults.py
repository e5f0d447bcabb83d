"""The fault suite: thousands of referrals with random lifecycle actions through the HTTP API while the
harness kills -9 and restarts, at random moments, the broker (5 times), the relay, the tracker, the
notifier and the referral API (mid-request), and makes PostgreSQL refuse connections; then the checker
holds every record of the system against what the API confirmed. 0 lost, 0 applied twice, 0 out of
order; never a 500.

Every role runs as two instances (``RUJUKAN_FAULT_REPLICAS``): the load spreads over both APIs and
retries a lost answer on the other with the same Idempotency-Key; a relay or notifier fault kills the
instance that holds the role's lease, and the suite measures how long the standby takes to hold it.

On a three-node Apache Kafka cluster (``RUJUKAN_TEST_BROKER=kafka-cluster``) the broker faults are those
of a cluster: kill -9 the leader of the busiest partition (twice), kill -9 the active controller (twice),
a rolling restart of all three nodes, and one node down for the rest of the run (after the other broker
faults: with two of three alive, writes with acks=all and min.insync.replicas=2 go on). After each fault
the suite measures how long the relay, the tracker and the notifier take to catch up.

``RUJUKAN_FAULT_SEED`` replays a run's choices (printed at the start); ``RUJUKAN_FAULT_REFERRALS`` sets
the load (default 2,000).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2 as httpx
import psycopg
import pytest
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook

from rujukan.audit.replay import ReplayOptions, replay
from rujukan.cli.demo import AGENCIES
from rujukan.core.settings import CoreSettings
from rujukan.core.signatures import SigningKeys
from rujukan.notifier.routing import BREACH_TYPE, WEBHOOK_TYPES
from rujukan.referral.api.app import build_context
from rujukan.referral.registry import add_agency, issue_credential
from rujukan.referral.settings import ReferralSettings
from rujukan.tracker.settings import TrackerSettings
from tests.brokers import NODES
from tests.databases import postgres_refusing
from tests.faults import check
from tests.faults.catchup import CatchUp, CatchUpWatch
from tests.faults.cluster import REPLICAS, Cluster, cluster
from tests.faults.kafka_faults import cluster_fault
from tests.faults.load import NAMES, Load
from tests.notifier.receiver import Receiver, receiving

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
REFERRALS = int(os.environ.get("RUJUKAN_FAULT_REFERRALS", "2000"))
WORKERS = 8
LOAD_DEADLINE_S = 420.0
DRAIN_TIMEOUT_S = 180.0
SERVICE_FAULTS = ["relay"] * 2 + ["tracker"] * 2 + ["notifier"] * 2 + ["referral"] * 2 + ["postgres"] * 2
LEASE_OF = {"relay": "relay", "notifier": "notifier-dispatcher"}  # kill the instance that holds it
TAKEOVER_LIMIT_S = 10.0
BROKER_FAULTS = ["leader"] * 2 + ["controller"] * 2 + ["rolling"] if NODES > 1 else ["broker"] * 5
FAULTS = [*BROKER_FAULTS, *SERVICE_FAULTS] + (["node-down"] if NODES > 1 else [])


def fault_plan(rng: random.Random) -> list[str]:
    """The faults in a random order; a node that stays down comes after every other broker fault (a
    second node lost would leave the quorum and min.insync.replicas short)."""
    kinds = [*BROKER_FAULTS, *SERVICE_FAULTS]
    rng.shuffle(kinds)
    if "node-down" in FAULTS:
        last_broker_fault = max(i for i, kind in enumerate(kinds) if kind in BROKER_FAULTS)
        kinds.insert(rng.randint(last_broker_fault + 1, len(kinds)), "node-down")
    return kinds


def test_nothing_lost_duplicated_or_reordered_under_faults(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed = int(os.environ.get("RUJUKAN_FAULT_SEED") or random.randrange(2**32))
    say = _printer(capsys)
    say(f"fault suite: seed {seed} (RUJUKAN_FAULT_SEED={seed} replays it), {REFERRALS} referrals")
    rng = random.Random(seed)
    with cluster(tmp_path) as system, receiving() as receiver:
        secrets, signing = _register(system, receiver)
        load = Load(
            system.referral_apis, secrets, seed=seed, referrals=REFERRALS, deadline=time.monotonic() + LOAD_DEADLINE_S
        )
        injected: Counter[str] = Counter()
        catchup = CatchUpWatch(system.urls)
        faults = threading.Thread(target=_inject, args=(system, load, rng, injected, catchup), daemon=True)
        began = time.monotonic()
        faults.start()
        load.run(WORKERS)
        faults.join(300)
        load_s = time.monotonic() - began
        expected = check.expected_chains(load.referrals)
        drained = _drain(system, receiver, sum(len(chain) for chain in expected.values()))
        layers, audit = _check(system, load, receiver, expected)
        unsigned = _unverified(receiver, signing)
        tallies = _tallies(load, injected, layers, audit, load_s=load_s, drained=drained, catchup=catchup.wait())
        tallies += "\n  takeovers " + (
            ", ".join(f"{lease} {seconds:.1f} s" for lease, seconds in TAKEOVERS) or "none (one instance per role)"
        )
        signed = len(receiver.received)
        tallies += f"\n  signatures {signed - len(unsigned)} of {signed} webhooks verified with standardwebhooks"
        say(tallies)
        exits = system.unexpected_exits()
        assert not exits, f"services died on their own: {exits}\n{system.logs()}"
        leaks = _leaks(tmp_path, {**secrets, **{f"{code} signing": s for code, s in signing.items()}})
        assert not leaks, f"personal data or secrets in the service logs: {leaks[:5]}"

    assert unsigned == [], unsigned[:10]
    assert load.tally.server_errors == [], load.tally.server_errors[:20]
    assert load.tally.unexpected == [], load.tally.unexpected[:20]
    assert load.tally.retry_after_missing == 0
    assert load.tally.gave_up == 0
    assert sum(injected.values()) == len(FAULTS), injected
    assert load.tally.answers[503] > 0, "the database outages never reached the API"
    assert all(seconds < TAKEOVER_LIMIT_S for _, seconds in TAKEOVERS), TAKEOVERS
    assert len(load.referrals) >= REFERRALS
    for layer in layers:
        assert layer.clean, f"{layer.line()}\n" + "\n".join((layer.lost + layer.duplicated + layer.reordered)[:20])
    assert audit["violations"] == [], audit["violations"][:20]
    assert audit["counts"]["checkpoints_checked"] == 1  # the newest, signed over the log as it was rebuilt
    assert audit["differences"] == [], audit["differences"][:20]


def _unverified(receiver: Receiver, signing: dict[str, str]) -> list[str]:
    """Webhooks whose signature is not the one standardwebhooks (the reference) makes with the agency's
    secret. Checked after the run, so the library's five-minute freshness check, which a receiver makes on
    arrival, is left out: the signature over id, timestamp and body is compared as its verify does."""
    failed = []
    with receiver._lock:
        received = list(receiver.received)
    for request in received:
        headers = request.headers
        try:
            at = dt.datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=dt.UTC)
            wanted = Webhook(signing[request.path.removeprefix("/hooks/")]).sign(
                headers["webhook-id"], at, request.body.decode()
            )
            given = headers["webhook-signature"].split()
        except (KeyError, ValueError) as exc:
            failed.append(f"{request.path}: {type(exc).__name__}")
            continue
        if wanted not in given:
            failed.append(f"{request.path} {headers['webhook-id']}: signature does not verify")
    return failed


def _leaks(work: Path, secrets: dict[str, str]) -> list[str]:
    """Lines of the service logs that hold a credential, a webhook secret, a subject's name or a note."""
    names = re.compile(r"\b(" + "|".join(NAMES) + r") Uji \d+|Catatan \d+|whsec_|rjk_")
    found = []
    for log in work.glob("*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if names.search(line) or any(secret in line for secret in secrets.values()):
                found.append(f"{log.name}: {line[:200]}")
    return found


def _printer(capsys: pytest.CaptureFixture[str]) -> Any:
    def say(text: str) -> None:
        with capsys.disabled():
            print(f"\n{text}", flush=True)

    return say


def _register(system: Cluster, receiver: Receiver) -> tuple[dict[str, str], dict[str, str]]:
    """The demo agencies, a credential each, and a webhook subscription each (over the notifier API); the
    credentials and the webhook signing secrets, by agency."""
    settings = ReferralSettings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=system.work / "registry",
        referral_database_url=system.urls["referral"],
        master_key=SecretStr(system.master_key),
        signing_key=SecretStr(system.signing_key),
    )
    ctx = build_context(settings)
    try:
        secrets = {}
        for agency in AGENCIES:
            add_agency(ctx, agency=agency)
            secrets[agency.code] = issue_credential(ctx, agency_code=agency.code).secret
    finally:
        ctx.engine.dispose()
    types = sorted(set(WEBHOOK_TYPES.values()) - {BREACH_TYPE})  # breaches depend on the clock, not the load
    signing: dict[str, str] = {}
    for code, secret in secrets.items():
        answer = httpx.put(
            f"{system.notifier_api}/v1/subscription",
            json={"url": receiver.url(f"/hooks/{code}"), "event_types": types},
            headers={"Authorization": f"Bearer {secret}"},
            timeout=30,
            trust_env=False,
        )
        assert answer.status_code == 200, answer.text
        signing[code] = answer.json()["secret"]
    return secrets, signing


def _inject(system: Cluster, load: Load, rng: random.Random, injected: Counter[str], catchup: CatchUpWatch) -> None:
    """The faults in a random order, each after a random pause of the load running undisturbed; the
    load goes on until the last one is over."""
    try:
        for kind in fault_plan(rng):
            pause_until = time.monotonic() + rng.uniform(1.0, 5.0)
            while time.monotonic() < min(pause_until, load.deadline):
                system.check_alive()
                time.sleep(0.1)
            began = time.monotonic()
            _fault(system, kind, rng)
            injected[kind] += 1
            catchup.after(kind, lasted=time.monotonic() - began)
    finally:
        load.faults_done.set()


def _fault(system: Cluster, kind: str, rng: random.Random) -> None:
    down_s = rng.uniform(0.2, 2.0)
    if kind == "broker":
        system.broker.kill()
        time.sleep(down_s)
        system.broker.start()
    elif kind in ("leader", "controller", "rolling", "node-down"):
        cluster_fault(system, kind, down_s, rng)
    elif kind == "postgres":
        with postgres_refusing(list(system.urls.values())):
            time.sleep(rng.uniform(3.0, 6.0))
    else:
        lease = LEASE_OF.get(kind)
        holder = system.holder(lease) if lease else None
        service = holder or rng.choice(system.instances(kind))
        service.kill()
        killed = time.monotonic()
        if lease and REPLICAS > 1:
            TAKEOVERS.append((lease, _takeover(system, lease, killed)))
        time.sleep(max(0.0, down_s - (time.monotonic() - killed)))
        service.start()
        if lease and REPLICAS > 1:
            # the next kill of the holder measures a takeover by this instance: it must be up (a standby)
            # by then, not still importing, which on a loaded 2-core machine takes seconds
            service.wait_until_logged(f"{lease}: standing by", f"{lease}: holding the lease")


TAKEOVERS: list[tuple[str, float]] = []  # (lease, seconds from the holder's kill to a standby holding it)


def _takeover(system: Cluster, lease: str, killed: float) -> float:
    """Seconds until another instance holds ``lease`` (the limit and more when none does)."""
    while time.monotonic() - killed < TAKEOVER_LIMIT_S + 5:
        if system.holder(lease) is not None:
            return time.monotonic() - killed
        time.sleep(0.05)
    return time.monotonic() - killed


def _drain(system: Cluster, receiver: Receiver, events: int) -> float:
    """Wait until the relay, the tracker and the notifier have caught up (or the time is up); seconds."""
    began = time.monotonic()
    while time.monotonic() - began < DRAIN_TIMEOUT_S:
        system.check_alive()
        unpublished = _count(system.urls["referral"], "referral_events WHERE published_at IS NULL")
        projected = _count(system.urls["tracker"], "handoff_history")
        pending = _count(system.urls["notifier"], "deliveries WHERE status = 'pending'")
        made = _count(system.urls["notifier"], "deliveries")
        # every event of the load has exactly one party to tell: the one that did not act
        if unpublished == 0 and projected >= events and made >= events and pending == 0:
            return time.monotonic() - began
        time.sleep(0.5)
    return time.monotonic() - began


def _count(url: str, rows: str) -> int:
    with psycopg.connect(check.libpq(url)) as db:
        found = db.execute(f"SELECT count(*) FROM {rows}").fetchone()
    return int(found[0]) if found else 0


def _check(
    system: Cluster, load: Load, receiver: Receiver, expected: dict[str, check.Chain]
) -> tuple[list[check.Layer], dict[str, Any]]:
    database, events = check.database_layer(system.urls["referral"], expected)
    settings = CoreSettings(_env_file=None, kafka_bootstrap=system.broker.bootstrap)  # type: ignore[call-arg]
    topic = check.topic_layer(settings, expected)
    statuses = check.referral_statuses(system.urls["referral"])
    tracker = check.tracker_layer(system.urls["tracker"], expected, statuses)
    with receiver._lock:
        received = list(receiver.received)
    webhooks = check.webhook_layer(events, check.parties_of(system.urls["referral"]), received)
    report = replay(
        settings,
        ReplayOptions(
            compare_url=system.urls["tracker"],
            idle_timeout_s=10,
            keys=SigningKeys.parse(system.signing_key, ReferralSettings(_env_file=None).log_origin).public,  # type: ignore[call-arg]
        ),
        policy=TrackerSettings(_env_file=None).sla_policy(),  # type: ignore[call-arg]
    )
    return [database, topic, tracker, webhooks], report.as_dict()


def _tallies(
    load: Load,
    injected: Counter[str],
    layers: list[check.Layer],
    audit: dict[str, Any],
    *,
    load_s: float,
    drained: float,
    catchup: list[CatchUp],
) -> str:
    actions = sum(len(r.events) for r in load.referrals.values())
    total = check.totals(layers)
    lines = [
        "fault suite tallies",
        f"  load      {len(load.referrals)} referrals, {actions} confirmed actions (incl. creates), "
        f"{load.tally.requests} requests in {load_s:.0f} s; caught up {drained:.0f} s later",
        f"  answers   {dict(sorted(load.tally.answers.items()))}; 500s {len(load.tally.server_errors)}; "
        f"unexpected {len(load.tally.unexpected)}; lost answers retried {load.tally.transport_errors}; "
        f"idempotent replays {load.tally.idempotent_replays}",
        f"  faults    {sum(injected.values())}: {dict(sorted(injected.items()))}",
        *(f"  {layer.line()}" for layer in layers),
        f"  audit     {audit['counts'].get('events', 0)} events read, {len(audit['violations'])} violations, "
        f"{len(audit['differences'] or [])} differences from the live tracker; transparency log "
        f"{audit['counts'].get('leaves', 0)} signed leaves, {audit['counts'].get('checkpoints_checked', 0)} "
        "checkpoints held",
        f"  TOTAL     lost {total['lost']}  duplicated {total['duplicated']}  reordered {total['reordered']}",
        "  caught up after each fault (relay: all stored events published; tracker, notifier: all processed)",
        *(f"    {result.line()}" for result in catchup),
    ]
    return "\n".join(lines)
