"""The per-credential rate limit (a token bucket per caller), on a bare ASGI app with a fake clock."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from rujukan.core.http_limits import RateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limited(clock: Clock, *, per_second: float = 2.0, burst: int = 3, max_callers: int = 100) -> TestClient:
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    app.add_middleware(RateLimit, per_second=per_second, burst=burst, max_callers=max_callers, clock=clock)
    return TestClient(app)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_a_burst_then_429_with_retry_after_then_the_sustained_rate() -> None:
    clock = Clock()
    client = limited(clock)
    assert [client.get("/ping", headers=bearer("a")).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get("/ping", headers=bearer("a"))
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["Retry-After"] == "1"  # one token comes back in 0.5 s: rounded up to a whole second
    assert "2 requests a second" in refused.json()["detail"]
    clock.now += 0.5
    assert client.get("/ping", headers=bearer("a")).status_code == 200
    assert client.get("/ping", headers=bearer("a")).status_code == 429


def test_each_credential_has_its_own_bucket() -> None:
    client = limited(Clock(), burst=1)
    assert client.get("/ping", headers=bearer("a")).status_code == 200
    assert client.get("/ping", headers=bearer("a")).status_code == 429
    assert client.get("/ping", headers=bearer("b")).status_code == 200
    assert client.get("/ping").status_code == 200  # no credential: limited by address, apart


def test_retry_after_covers_the_whole_wait_at_a_slow_rate() -> None:
    client = limited(Clock(), per_second=0.1, burst=1)
    client.get("/ping", headers=bearer("a"))
    assert client.get("/ping", headers=bearer("a")).headers["Retry-After"] == "10"


def test_invented_callers_cannot_grow_memory_past_the_bound() -> None:
    limiter = RateLimit(FastAPI(), per_second=1, burst=1, max_callers=50, clock=Clock())
    for n in range(500):
        limiter._take(f"caller-{n}".encode())
    assert len(limiter._buckets) == 50


def test_a_rate_of_zero_turns_the_limit_off() -> None:
    client = limited(Clock(), per_second=0, burst=1)
    assert {client.get("/ping", headers=bearer("a")).status_code for _ in range(20)} == {200}
