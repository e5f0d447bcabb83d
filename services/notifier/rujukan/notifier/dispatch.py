"""The dispatcher: sends pending deliveries, retries them, and gives up on them for good.

Fairness and order:
- Only the head of each (subscription, referral) queue is ever sent: a referral's deliveries go out in
  event order, and a delivery waiting for its retry holds back only the later ones of its referral.
- Attempts run on a pool of ``webhook_workers`` threads, at most ``webhook_max_in_flight`` per
  subscription: a hanging receiver ties up its own share of the pool, never another agency's.
- Each attempt has a timeout; redirects are not followed; the answer's body is thrown away.

Time is injected (``clock``) for scheduling, so tests can jump over hours of back-off; the signature's
``webhook-timestamp`` is always the wall clock, which is what receivers check it against.

The dispatcher only schedules. One attempt is: the SSRF guard (:mod:`rujukan.notifier.destinations`), the
signed POST (:func:`rujukan.notifier.sending.send`, the seam to the network), and the delivery's next
state from the answer (:func:`rujukan.notifier.retry.next_state`, pure); jobs are read and outcomes stored
by :mod:`rujukan.notifier.attempts`, so the worker threads never touch the database. An unexpected error
inside an attempt counts as a failed attempt, retried on the schedule: a worker never dies.

A delivery that fails for good (retry window exhausted, a permanent 4xx, a 410 that also disables the
subscription, an unsafe destination) is marked failed and then published to the dead-letter topic by
:class:`~rujukan.notifier.dead_letters.FailedDeliveries`, an outbox, so a broker outage delays the dead
letter but cannot lose it. Several notifiers may run on one database: the dispatcher works in one of them
at a time, under a lease (:mod:`rujukan.core.lease`), so no attempt is made by two.

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
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2 as httpx
from sqlalchemy import and_, exists, func
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from rujukan.core.clock import Clock, utc_now
from rujukan.core.db import Database
from rujukan.core.loops import run_until
from rujukan.notifier.attempts import Job, Outcome, read_jobs, store_outcomes
from rujukan.notifier.destinations import Resolver, Unresolvable, check_destination, resolve
from rujukan.notifier.errors import UnsafeDestination
from rujukan.notifier.models import DeliveryRow
from rujukan.notifier.retry import Answer, DeliveryStatus, RetryPolicy, Verdict, next_state
from rujukan.notifier.sending import send, webhook_client
from rujukan.notifier.settings import NotifierSettings

log = logging.getLogger("rujukan.notifier")
IDLE_WAIT_S = 0.5


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
        return webhook_client(
            timeout_s=self._settings.webhook_timeout_s, max_connections=self._settings.webhook_workers * 2
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
            DeliveryRow.status == DeliveryStatus.PENDING.value, col(DeliveryRow.next_attempt_at) <= self._clock()
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
            store_outcomes(self._db, outcomes)
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
                col(earlier.status) == DeliveryStatus.PENDING.value,
                col(earlier.id) < col(DeliveryRow.id),
            )
        )
        query = select(DeliveryRow).where(
            DeliveryRow.status == DeliveryStatus.PENDING.value, col(DeliveryRow.next_attempt_at) <= self._clock(), head
        )
        if busy:
            query = query.where(col(DeliveryRow.id).not_in(busy))
        if full:
            query = query.where(col(DeliveryRow.subscription_id).not_in(full))
        query = query.order_by(col(DeliveryRow.next_attempt_at), col(DeliveryRow.id)).limit(limit)
        with self._db.read() as session:
            return read_jobs(session, list(session.exec(query).all()), now=self._clock(), box=self._box)

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
            if row is None or row.status != DeliveryStatus.PENDING:
                return None
            (job,) = read_jobs(session, [row], now=self._clock(), box=self._box)
        outcome = self._try(job)
        store_outcomes(self._db, [outcome])
        return outcome.state.verdict

    def _try(self, job: Job) -> Outcome:
        now = self._clock()
        if job.url is None:
            disabled = Answer(None, error=f"subscription disabled ({job.disabled_reason})")
            return self._outcome(job, disabled, now, refused=True)
        if not job.secrets:
            return self._outcome(job, Answer(None, error="the subscription has no valid secret"), now, refused=True)
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
            return self._outcome(job, Answer(None, error=str(exc)), now, refused=True)
        answer = send(self._client, job.url, body=job.payload.encode(), message_id=job.event_id, secrets=job.secrets)
        return self._outcome(job, answer, self._clock())

    def _outcome(self, job: Job, answer: Answer, now: dt.datetime, *, refused: bool = False) -> Outcome:
        state = next_state(
            answer,
            attempts=job.attempts,
            first_attempt_at=job.first_attempt_at,
            now=now,
            policy=self._policy,
            rng=self._rng,
            refused=refused,
        )
        return Outcome(job, state)
