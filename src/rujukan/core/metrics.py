"""Prometheus metrics of every Rujukan process (``/metrics`` on each API; one endpoint on ``rujukan up``).

Labels name routes by their template, loops, consumer groups, topics, partitions, outcomes and error
classes: never a referral id, an agency's data or anything of a person.

- ``rujukan_http_request_duration_seconds{service,route,method,status}``: histogram of API answers.
- ``rujukan_consumer_lag_messages{group,topic,partition}``: messages on the broker past a consumer's
  stored position (set by the loop watchdog every few seconds).
- ``rujukan_outbox_backlog_events{outbox}``: rows an outbox has not published yet (likewise).
- ``rujukan_group_commit_batch_units{writer}``: histogram of units of work committed together.
- ``rujukan_webhook_attempts_total{outcome}``, ``rujukan_dead_letters_total{reason}``,
  ``rujukan_sla_breaches_total``, ``rujukan_loop_restarts_total{loop}``: counters.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Metric,
    generate_latest,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

HTTP_DURATION = Histogram(
    "rujukan_http_request_duration_seconds",
    "Time from a request's arrival to its answer, by route template.",
    ["service", "route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CONSUMER_LAG = Gauge(
    "rujukan_consumer_lag_messages",
    "Messages on the broker past the position a consumer stored with its state.",
    ["group", "topic", "partition"],
)
OUTBOX_BACKLOG = Gauge("rujukan_outbox_backlog_events", "Rows an outbox has not published yet.", ["outbox"])
WEBHOOK_ATTEMPTS = Counter("rujukan_webhook_attempts_total", "Webhook delivery attempts by outcome.", ["outcome"])
DEAD_LETTERS = Counter("rujukan_dead_letters_total", "Messages and deliveries dead-lettered, by reason.", ["reason"])
SLA_BREACHES = Counter("rujukan_sla_breaches_total", "SLA breaches detected (each clock of a referral once).")
LOOP_RESTARTS = Counter(
    "rujukan_loop_restarts_total", "Background loops rebuilt after an unexpected error or a stall.", ["loop"]
)
GROUP_COMMIT_BATCH = Histogram(
    "rujukan_group_commit_batch_units",
    "Units of work (creates, actions) committed together in one transaction.",
    ["writer"],
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
LEASE_HELD = Gauge(
    "rujukan_lease_held", "1 while this instance holds the lease of a role that runs once (relay, SLA ...).", ["lease"]
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


def exposition(others: Iterable[str] = ()) -> tuple[bytes, str]:
    """The text exposition of every metric of this process, joined with ``others`` (the expositions of
    other processes of the same system, such as ``rujukan up``'s workers), and its content type. A series
    that several processes report is added up; the joined exposition leaves out the ``_created`` series
    (the text format writes them as families of their own, which would then appear twice)."""
    texts = list(others)
    if not texts:
        return generate_latest(), CONTENT_TYPE_LATEST
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Joined(texts))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Joined(Collector):
    def __init__(self, texts: list[str]) -> None:
        self._texts = texts

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        sources = [REGISTRY.collect(), *(text_string_to_metric_families(text) for text in self._texts)]
        for family in (f for source in sources for f in source):
            if family.name.endswith("_created"):
                continue
            joined = values.setdefault(family.name, {})
            if family.name not in families:
                families[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                key = (sample.name, tuple(sorted(sample.labels.items())))
                joined[key] = joined.get(key, 0.0) + sample.value
        for name, family in families.items():
            for (sample_name, labels), value in values[name].items():
                family.add_sample(sample_name, dict(labels), value)
            yield family


class TimedRequests:
    """ASGI middleware observing each HTTP answer in ``rujukan_http_request_duration_seconds``; the route
    is the template the router matched (``/v1/referrals/{referral_id}``), ``unmatched`` otherwise."""

    def __init__(self, app: Asgi, *, service: str) -> None:
        self._app = app
        self._service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def sending(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_DURATION.labels(self._service, route, scope["method"], str(status)).observe(
                time.perf_counter() - began
            )
