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
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
from sqlalchemy import and_, exists, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from rujukan.core.db import Database
from rujukan.core.kafka.outbox import OutboxMessage
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
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int | None  # None: no HTTP answer
    retry_after: str | None = None
    error: str | None = None


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
        self._client = client or httpx.Client(
            follow_redirects=False,
            timeout=settings.webhook_timeout_s,
            headers={"user-agent": USER_AGENT},
            trust_env=False,  # no proxy from the environment: the SSRF guard must see where we connect
        )
        self._pool = ThreadPoolExecutor(max_workers=settings.webhook_workers, thread_name_prefix="webhook")
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()
        self._per_subscription: Counter[str] = Counter()
        self._wake = threading.Event()

    # -- the loop ------------------------------------------------------------------------------------
    def wake(self, *_: Any) -> None:
        """Look for work now (new deliveries were stored, or an attempt finished)."""
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    submitted = self.dispatch_once()
                except OperationalError:
                    log.warning("dispatcher: database unavailable; trying again shortly")
                    submitted = 0
                if submitted == 0:
                    self._wake.wait(IDLE_WAIT_S)
        finally:
            self.close()

    def dispatch_once(self) -> int:
        """Hand every due queue head to the pool (within the caps); how many were handed over."""
        with self._lock:
            capacity = self._settings.webhook_workers - len(self._in_flight)
            busy = list(self._in_flight)
            full = [s for s, n in self._per_subscription.items() if n >= self._settings.webhook_max_in_flight]
        if capacity <= 0:
            return 0
        submitted = 0
        for delivery_id, subscription_id in self._due_heads(capacity * 4, busy=busy, full=full):
            with self._lock:
                if (
                    submitted >= capacity
                    or self._per_subscription[subscription_id] >= self._settings.webhook_max_in_flight
                ):
                    continue
                self._in_flight.add(delivery_id)
                self._per_subscription[subscription_id] += 1
            self._pool.submit(self._attempt_and_release, delivery_id, subscription_id)
            submitted += 1
        return submitted

    def idle(self) -> bool:
        with self._lock:
            return not self._in_flight

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def _due_heads(self, limit: int, *, busy: list[int], full: list[str]) -> list[tuple[int, str]]:
        earlier = aliased(DeliveryRow)
        head = ~exists().where(
            and_(
                col(earlier.subscription_id) == col(DeliveryRow.subscription_id),
                col(earlier.referral_id) == col(DeliveryRow.referral_id),
                col(earlier.status) == PENDING,
                col(earlier.id) < col(DeliveryRow.id),
            )
        )
        query = select(DeliveryRow.id, DeliveryRow.subscription_id).where(
            DeliveryRow.status == PENDING, col(DeliveryRow.next_attempt_at) <= self._clock(), head
        )
        if busy:
            query = query.where(col(DeliveryRow.id).not_in(busy))
        if full:
            query = query.where(col(DeliveryRow.subscription_id).not_in(full))
        query = query.order_by(col(DeliveryRow.next_attempt_at), col(DeliveryRow.id)).limit(limit)
        with self._db.read() as session:
            return [(int(i or 0), str(s)) for i, s in session.exec(query).all()]

    def _attempt_and_release(self, delivery_id: int, subscription_id: str) -> None:
        try:
            self.attempt(delivery_id)
        except Exception as exc:  # a worker must never die; the delivery stays pending
            log.warning("webhook delivery %s: %s; it stays pending", delivery_id, type(exc).__name__)
        finally:
            with self._lock:
                self._in_flight.discard(delivery_id)
                self._per_subscription[subscription_id] -= 1
                if self._per_subscription[subscription_id] <= 0:
                    del self._per_subscription[subscription_id]
            self._wake.set()

    # -- one attempt ---------------------------------------------------------------------------------
    def attempt(self, delivery_id: int) -> Verdict | None:
        """Send one delivery once and record the outcome; None when it was not pending."""
        now = self._clock()
        with self._db.read() as session:
            row = session.get(DeliveryRow, delivery_id)
            if row is None or row.status != PENDING:
                return None
            subscription = session.get(SubscriptionRow, row.subscription_id)
            secrets = signing_secrets(session, row.subscription_id, now)
        if subscription is None or not subscription.enabled:
            reason = subscription.disabled_reason if subscription is not None else None
            return self._record(
                row, Answer(None, error=f"subscription disabled ({reason or 'removed'})"), now, final=True
            )
        if not secrets:
            return self._record(row, Answer(None, error="the subscription has no valid secret"), now, final=True)
        try:
            check_destination(
                subscription.url,
                allowed_networks=self._settings.webhook_allowed_networks,
                allow_http=self._settings.webhook_allow_http,
                resolver=self._resolver,
            )
        except Unresolvable as exc:
            return self._record(row, Answer(None, error=str(exc)), now)
        except UnsafeDestination as exc:
            return self._record(row, Answer(None, error=str(exc)), now, final=True)
        answer = self._send(subscription.url, row, secrets)
        return self._record(row, answer, self._clock())

    def _send(self, url: str, row: DeliveryRow, secrets: list[str]) -> Answer:
        body = row.payload.encode()
        headers = signature_headers(secrets, message_id=row.event_id, timestamp=int(time.time()), body=body)
        headers["content-type"] = "application/json"
        try:
            with self._client.stream("POST", url, content=body, headers=headers) as response:
                return Answer(response.status_code, retry_after=response.headers.get("retry-after"))
        except httpx.HTTPError as exc:
            return Answer(None, error=f"no answer ({type(exc).__name__})")

    def _record(self, row: DeliveryRow, answer: Answer, now: dt.datetime, *, final: bool = False) -> Verdict:
        outcome = Verdict.PERMANENT if final else verdict(answer.status)
        attempts = row.attempts + 1
        first = row.first_attempt_at or now
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
        with self._db.transaction() as session:
            session.execute(update(DeliveryRow).where(col(DeliveryRow.id) == row.id).values(**values))
            if outcome is Verdict.GONE:
                _disable(session, row.subscription_id, "the receiver answered 410 Gone", now)
        if values.get("status") == FAILED:
            log.warning("webhook delivery %s to %s failed for good: %s", row.id, row.owner, values["last_error"])
        return outcome


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
