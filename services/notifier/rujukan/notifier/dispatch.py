"""The dispatcher: sends pending deliveries, retries them, and gives up on them for good.

Fairness and order:
- Only the head of each (subscription, referral) queue is ever sent: a referral's deliveries go out in
  event order, and a delivery waiting for its retry holds back only the later ones of its referral.
- Attempts run on a pool of ``webhook_workers`` threads, at most ``webhook_max_in_flight`` per
  subscription: a hanging receiver ties up its own share of the pool, never another agency's.
- Each attempt has a timeout; redirects are not followed; the answer's body is never read.

Time is injected (``clock``) for scheduling, so tests can jump over hours of back-off; the signature's
``webhook-timestamp`` is always the wall clock, which is what receivers check it against.

A delivery that fails for good (retry window exhausted, a permanent 4xx, a 410 that also disables the
subscription, an unsafe destination) is marked failed and then published to the dead-letter topic by
:class:`FailedDeliveries`, an outbox, so a broker outage delays the dead letter but cannot lose it. The
notifier is meant to run as a single instance (like the relay): two would send deliveries twice.

The dispatcher is a worker of the loop supervisor (:mod:`rujukan.core.loops`): ``step`` stores finished
attempts and hands out due ones, ``close`` waits for the attempts under way and drops the pool and the
HTTP client, ``backlog`` counts the deliveries due now.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
from sqlalchemy import and_, exists, func, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from rujukan.core import metrics
from rujukan.core.db import Database
from rujukan.core.kafka.outbox import OutboxMessage
from rujukan.core.loops import run_until
from rujukan.notifier.destinations import Resolver, Unresolvable, UnsafeDestination, check_destination, resolve
from rujukan.notifier.models import DeliveryRow, PublisherState, SubscriptionRow
from rujukan.notifier.retry import RetryPolicy, Verdict, parse_retry_after, verdict
from rujukan.notifier.settings import NotifierSettings
from rujukan.notifier.signing import signature_headers
from rujukan.notifier.subscriptions import signing_secrets

log = logging.getLogger("rujukan.notifier")
Clock = Callable[[], dt.datetime]
IDLE_WAIT_S = 0.5
USER_AGENT = "Rujukan-Webhooks/1"
MAX_ANSWER_BYTES = 64 * 1024
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int | None  # None: no HTTP answer
    retry_after: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """One attempt, with everything it needs read up front (the worker touches no database)."""

    delivery_id: int
    subscription_id: str
    owner: str
    event_id: str
    payload: str
    attempts: int
    first_attempt_at: dt.datetime | None
    url: str | None  # None: the subscription is disabled or gone
    secrets: tuple[str, ...]
    disabled_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    job: Job
    verdict: Verdict
    values: dict[str, Any]  # the delivery row's new values


class Dispatcher:
    def __init__(
        self,
        db: Database,
        settings: NotifierSettings,
        *,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        resolver: Resolver = resolve,
        client: httpx.Client | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._resolver = resolver
        self._policy: RetryPolicy = settings.retry_policy()
        self._box = settings.secret_box()
        self._given_client = client
        self._client = client or self._new_client()
        self._pool: ThreadPoolExecutor | None = self._new_pool()
        self._lock = threading.Lock()
        self._in_flight: dict[int, str] = {}  # delivery id -> subscription id, until its outcome is stored
        self._per_subscription: Counter[str] = Counter()
        self._outcomes: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._wake = threading.Event()

    def _new_client(self) -> httpx.Client:
        return httpx.Client(
            follow_redirects=False,
            timeout=self._settings.webhook_timeout_s,
            headers={"user-agent": USER_AGENT},
            trust_env=False,  # no proxy from the environment: the SSRF guard must see where we connect
            limits=httpx.Limits(max_connections=self._settings.webhook_workers * 2),
        )

    def _new_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self._settings.webhook_workers, thread_name_prefix="webhook")

    def _pool_or_new(self) -> ThreadPoolExecutor:
        """The attempt pool; after ``close`` a new one, with a new HTTP client."""
        if self._pool is None:
            self._pool = self._new_pool()
            self._client = self._given_client or self._new_client()
        return self._pool

    # -- the loop worker (rujukan.core.loops) ---------------------------------------------------------
    def wake(self, *_: Any) -> None:
        """Look for work now (new deliveries were stored, or an attempt finished)."""
        self._wake.set()

    def step(self) -> int:
        """Store finished attempts' outcomes, hand due deliveries to the pool; how many of both."""
        self._wake.clear()
        return self.store_outcomes() + self.dispatch_once()

    def idle(self) -> None:
        self._wake.wait(IDLE_WAIT_S)

    def backlog(self) -> int:
        """Deliveries due now (for the watchdog: due work and no attempt finishing means a stall)."""
        query = select(func.count()).where(
            DeliveryRow.status == PENDING, col(DeliveryRow.next_attempt_at) <= self._clock()
        )
        with self._db.read() as session:
            return int(session.exec(query).one())

    def run(self, stop: threading.Event) -> None:
        """Run under a supervisor of its own until ``stop`` (tests)."""
        run_until(stop, {"dispatcher": self})

    def dispatch_once(self) -> int:
        """Hand every due queue head to the pool (within the caps); how many were handed over."""
        cap = self._settings.webhook_max_in_flight
        with self._lock:
            capacity = self._settings.webhook_workers - len(self._in_flight)
            busy = list(self._in_flight)
            full = [s for s, n in self._per_subscription.items() if n >= cap]
        if capacity <= 0:
            return 0
        submitted = 0
        for job in self._due_jobs(capacity * 4, busy=busy, full=full):
            with self._lock:
                if submitted >= capacity or self._per_subscription[job.subscription_id] >= cap:
                    continue
                self._in_flight[job.delivery_id] = job.subscription_id
                self._per_subscription[job.subscription_id] += 1
            self._pool_or_new().submit(self._work, job)
            submitted += 1
        return submitted

    def store_outcomes(self) -> int:
        """Write every finished attempt's outcome in one transaction (one commit for many attempts),
        then free their places; how many were stored."""
        outcomes: list[Outcome] = []
        while True:
            try:
                outcomes.append(self._outcomes.get_nowait())
            except queue.Empty:
                break
        if not outcomes:
            return 0
        try:
            self._store(outcomes)
        except Exception:
            for outcome in outcomes:  # not stored: keep them for the next round
                self._outcomes.put(outcome)
            raise
        with self._lock:
            for outcome in outcomes:
                self._release(outcome.job.delivery_id)
        return len(outcomes)

    def close(self) -> None:
        """Let the attempts under way finish, store their outcomes, and drop the pool and the client (the
        next step makes new ones)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        try:
            self.store_outcomes()
        except OperationalError:
            log.warning("dispatcher: outcomes of the last attempts not stored; they will be sent again")
        if self._given_client is None:
            self._client.close()

    def _release(self, delivery_id: int) -> None:
        subscription_id = self._in_flight.pop(delivery_id, None)
        if subscription_id is not None:
            self._per_subscription[subscription_id] -= 1
            if self._per_subscription[subscription_id] <= 0:
                del self._per_subscription[subscription_id]

    def _due_jobs(self, limit: int, *, busy: list[int], full: list[str]) -> list[Job]:
        earlier = aliased(DeliveryRow)
        head = ~exists().where(
            and_(
                col(earlier.subscription_id) == col(DeliveryRow.subscription_id),
                col(earlier.referral_id) == col(DeliveryRow.referral_id),
                col(earlier.status) == PENDING,
                col(earlier.id) < col(DeliveryRow.id),
            )
        )
        query = select(DeliveryRow).where(
            DeliveryRow.status == PENDING, col(DeliveryRow.next_attempt_at) <= self._clock(), head
        )
        if busy:
            query = query.where(col(DeliveryRow.id).not_in(busy))
        if full:
            query = query.where(col(DeliveryRow.subscription_id).not_in(full))
        query = query.order_by(col(DeliveryRow.next_attempt_at), col(DeliveryRow.id)).limit(limit)
        with self._db.read() as session:
            return self._jobs(session, list(session.exec(query).all()))

    def _jobs(self, session: Session, rows: list[DeliveryRow]) -> list[Job]:
        now = self._clock()
        subscriptions: dict[str, tuple[SubscriptionRow | None, tuple[str, ...]]] = {}
        for subscription_id in {row.subscription_id for row in rows}:
            found = session.get(SubscriptionRow, subscription_id)
            subscriptions[subscription_id] = (found, tuple(signing_secrets(session, subscription_id, now, self._box)))
        jobs = []
        for row in rows:
            subscription, secrets = subscriptions[row.subscription_id]
            enabled = subscription is not None and subscription.enabled
            jobs.append(
                Job(
                    delivery_id=int(row.id or 0),
                    subscription_id=row.subscription_id,
                    owner=row.owner,
                    event_id=row.event_id,
                    payload=row.payload,
                    attempts=row.attempts,
                    first_attempt_at=row.first_attempt_at,
                    url=subscription.url if subscription is not None and enabled else None,
                    secrets=secrets,
                    disabled_reason=subscription.disabled_reason if subscription is not None else "removed",
                )
            )
        return jobs

    def _work(self, job: Job) -> None:
        try:
            self._outcomes.put(self._try(job))
        except Exception as exc:  # a worker must never die: the attempt counts as failed, retried later
            log.error("webhook delivery %s: unexpected %s; retried later", job.delivery_id, type(exc).__name__)
            try:
                failed = Answer(status=None, error=f"internal error ({type(exc).__name__})")
                self._outcomes.put(self._outcome(job, failed, self._clock()))
            except Exception:  # the outcome itself cannot be made: the delivery stays as it was
                with self._lock:
                    self._release(job.delivery_id)
        finally:
            self._wake.set()

    # -- one attempt ---------------------------------------------------------------------------------
    def attempt(self, delivery_id: int) -> Verdict | None:
        """Send one delivery once and store the outcome now; None when it was not pending."""
        with self._db.read() as session:
            row = session.get(DeliveryRow, delivery_id)
            if row is None or row.status != PENDING:
                return None
            (job,) = self._jobs(session, [row])
        outcome = self._try(job)
        self._store([outcome])
        return outcome.verdict

    def _try(self, job: Job) -> Outcome:
        now = self._clock()
        if job.url is None:
            return self._outcome(job, Answer(None, error=f"subscription disabled ({job.disabled_reason})"), now, True)
        if not job.secrets:
            return self._outcome(job, Answer(None, error="the subscription has no valid secret"), now, True)
        try:
            check_destination(
                job.url,
                allowed_networks=self._settings.webhook_allowed_networks,
                allow_http=self._settings.webhook_allow_http,
                resolver=self._resolver,
            )
        except Unresolvable as exc:
            return self._outcome(job, Answer(None, error=str(exc)), now)
        except UnsafeDestination as exc:
            return self._outcome(job, Answer(None, error=str(exc)), now, True)
        answer = self._send(job)
        return self._outcome(job, answer, self._clock())

    def _send(self, job: Job) -> Answer:
        assert job.url is not None
        body = job.payload.encode()
        headers = signature_headers(list(job.secrets), message_id=job.event_id, timestamp=int(time.time()), body=body)
        headers["content-type"] = "application/json"
        try:
            with self._client.stream("POST", job.url, content=body, headers=headers) as response:
                _drain(response)
                return Answer(response.status_code, retry_after=response.headers.get("retry-after"))
        except httpx.HTTPError as exc:
            return Answer(None, error=f"no answer ({type(exc).__name__})")

    def _outcome(self, job: Job, answer: Answer, now: dt.datetime, final: bool = False) -> Outcome:
        outcome = Verdict.PERMANENT if final else verdict(answer.status)
        attempts = job.attempts + 1
        first = job.first_attempt_at or now
        values: dict[str, Any] = {
            "attempts": attempts,
            "first_attempt_at": first,
            "last_attempt_at": now,
            "last_status_code": answer.status,
            "last_error": _error_text(answer, outcome),
        }
        if outcome is Verdict.DELIVERED:
            values |= {"status": DELIVERED, "delivered_at": now}
        elif outcome is Verdict.RETRY:
            wait = parse_retry_after(answer.retry_after, now) if answer.status in (429, 503) else None
            following = self._policy.next_attempt(
                attempts=attempts, first_attempt_at=first, now=now, rng=self._rng, retry_after=wait
            )
            if following is None:
                values |= {"status": FAILED, "last_error": f"gave up after {attempts} attempts: {values['last_error']}"}
            else:
                values |= {"next_attempt_at": following}
        else:
            values |= {"status": FAILED}
        return Outcome(job, outcome, values)

    def _store(self, outcomes: list[Outcome]) -> None:
        with self._db.transaction() as session:
            table = DeliveryRow.__table__  # type: ignore[attr-defined]  # Core: no ORM bookkeeping per row
            for o in outcomes:
                session.connection().execute(table.update().where(table.c.id == o.job.delivery_id).values(**o.values))
                if o.verdict is Verdict.GONE:
                    _disable(
                        session, o.job.subscription_id, "the receiver answered 410 Gone", o.values["last_attempt_at"]
                    )
        for o in outcomes:
            metrics.WEBHOOK_ATTEMPTS.labels(outcome=o.verdict.value).inc()
            if o.values.get("status") == FAILED:
                metrics.DEAD_LETTERS.labels(reason="webhook_failed").inc()
                log.warning(
                    "webhook delivery %s to %s failed for good: %s",
                    o.job.delivery_id,
                    o.job.owner,
                    o.values["last_error"],
                )


def _drain(response: httpx.Response) -> None:
    """Read a short answer body to the end (so the connection can be reused); stop at MAX_ANSWER_BYTES
    (the connection is then dropped: a receiver cannot make us read a large body)."""
    read = 0
    for chunk in response.iter_raw():
        read += len(chunk)
        if read > MAX_ANSWER_BYTES:
            return


def _error_text(answer: Answer, outcome: Verdict) -> str | None:
    if outcome is Verdict.DELIVERED:
        return None
    if answer.error:
        return answer.error[:200]
    return f"HTTP {answer.status}"


def _disable(session: Session, subscription_id: str, reason: str, now: dt.datetime) -> None:
    subscription = session.get(SubscriptionRow, subscription_id)
    if subscription is not None and subscription.enabled:
        subscription.enabled, subscription.disabled_reason, subscription.updated_at = False, reason, now
        session.add(subscription)
        log.warning("webhook subscription of %s disabled: %s", subscription.owner, reason)


class FailedDeliveries:
    """The failed deliveries seen as an outbox for the dead-letter topic (see the core outbox publisher).

    The dead letter's value is the thin JSON payload; headers say which delivery, for whom, after how
    many attempts and why, in the same ``dlq.*`` vocabulary as the consumers' dead letters.
    """

    def __init__(self, db: Database, topic: str, *, consumer: str) -> None:
        self._db = db
        self._topic = topic
        self._consumer = consumer

    def unpublished(self, limit: int) -> list[OutboxMessage]:
        query = (
            select(DeliveryRow)
            .where(DeliveryRow.status == FAILED, col(DeliveryRow.dead_lettered_at).is_(None))
            .order_by(col(DeliveryRow.id))
            .limit(limit)
        )
        with self._db.read() as session:
            rows = session.exec(query).all()
        return [
            OutboxMessage(
                position=int(row.id or 0),
                key=row.referral_id.encode(),
                value=row.payload.encode(),
                headers=[
                    ("dlq.source.topic", b"webhook"),
                    ("dlq.consumer", self._consumer.encode()),
                    ("dlq.error.class", b"WebhookDeliveryFailed"),
                    ("dlq.error.message", (row.last_error or "").encode()),
                    ("dlq.delivery.id", str(row.id).encode()),
                    ("dlq.delivery.owner", row.owner.encode()),
                    ("dlq.delivery.attempts", str(row.attempts).encode()),
                    ("event_id", row.event_id.encode()),
                    ("event_type", row.webhook_type.encode()),
                ],
            )
            for row in rows
        ]

    def mark_published(self, positions: list[int | str]) -> None:
        with self._db.transaction() as session:
            session.execute(
                update(DeliveryRow).where(col(DeliveryRow.id).in_(positions)).values(dead_lettered_at=utc_now())
            )

    def backlog(self) -> int:
        query = select(func.count()).where(DeliveryRow.status == FAILED, col(DeliveryRow.dead_lettered_at).is_(None))
        with self._db.read() as session:
            return int(session.exec(query).one())

    def stored_topic_id(self) -> str | None:
        with self._db.read() as session:
            state = session.get(PublisherState, self._topic)
            return state.topic_id if state is not None else None

    def reset(self, topic_id: str, *, republish: bool) -> None:
        with self._db.transaction() as session:
            session.merge(PublisherState(topic=self._topic, topic_id=topic_id))
            if republish:
                session.execute(
                    update(DeliveryRow).where(col(DeliveryRow.status) == FAILED).values(dead_lettered_at=None)
                )
