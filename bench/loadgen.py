"""Load generator process: N concurrent HTTP clients POST referrals for a fixed time; prints JSON.

``python -m bench.loadgen --url URL --token T --concurrency N --seconds S [--max-requests M]``: closed
loop, as fast as the server answers. With ``--rate R`` it is an open loop instead: a request every 1/R
seconds whatever the answers (at most N in flight), and the JSON lists each created id with the wall
time of its 201 (for the handoff latency). Loopback targets only; bounded by time and by count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import httpx2 as httpx

BODY: dict[str, Any] = {
    "to_agency": "BAPAS-JAKTIM",
    "service_type": "supervision",
    "urgency": "urgent",
    "reason": "Pembebasan bersyarat dalam 30 hari; perlu pembimbingan kemasyarakatan.",
    "legal_basis": "legal_obligation",
    "subject": {
        "full_name": "Budi Contoh Fiktif",
        "birth_date": "1990-01-01",
        "sex": "male",
        "category": "inmate_pre_release",
        "region_code": "31.75",
        "phone": "+62 812 0000 0001",
    },
}


def percentile(ordered: list[float], p: float, *, empty: float) -> float:
    """The ``p`` quantile (0..1) of ascending ``ordered`` values, nearest rank; ``empty`` when there are none."""
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else empty


async def worker(
    client: httpx.AsyncClient, deadline: float, budget: list[int], latencies: list[float], statuses: dict[int, int]
) -> None:
    while time.perf_counter() < deadline and budget[0] > 0:
        budget[0] -= 1
        start = time.perf_counter()
        response = await client.post("/v1/referrals", json=BODY)
        latencies.append(time.perf_counter() - start)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1


async def paced(
    client: httpx.AsyncClient,
    rate: float,
    seconds: float,
    concurrency: int,
    latencies: list[float],
    statuses: dict[int, int],
    created: list[tuple[str, float]],
) -> int:
    """Offer ``rate`` requests/s for ``seconds``; the number not sent because ``concurrency`` were in flight."""
    in_flight: set[asyncio.Task[None]] = set()
    skipped = 0

    async def one() -> None:
        start = time.perf_counter()
        response = await client.post("/v1/referrals", json=BODY)
        latencies.append(time.perf_counter() - start)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code == 201:
            created.append((str(response.json()["id"]), time.time()))

    begin = time.perf_counter()
    for index in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, begin + index / rate - time.perf_counter()))
        if len(in_flight) >= concurrency:
            skipped += 1
            continue
        task = asyncio.create_task(one())
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.gather(*in_flight)
    return skipped


async def main(
    url: str, token: str, concurrency: int, seconds: float, max_requests: int, rate: float | None = None
) -> dict[str, Any]:
    if not url.startswith(("http://127.", "http://localhost")):
        raise SystemExit("loopback targets only")
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=30
    ) as client:
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        created: list[tuple[str, float]] = []
        skipped = 0
        budget = [max_requests]
        start = time.perf_counter()
        if rate is None:
            await asyncio.gather(
                *(worker(client, start + seconds, budget, latencies, statuses) for _ in range(concurrency))
            )
        else:
            skipped = await paced(
                client, rate, min(seconds, max_requests / rate), concurrency, latencies, statuses, created
            )
        elapsed = time.perf_counter() - start
    latencies.sort()

    milliseconds = [value * 1000 for value in latencies]

    def pct(p: float) -> float:
        return percentile(milliseconds, p, empty=0.0)

    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "per_s": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "statuses": statuses,
        "concurrency": concurrency,
        "offered_per_s": rate,
        "skipped": skipped,
        "created": created,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=None, help="open loop: requests offered per second")
    args = parser.parse_args()
    result = asyncio.run(main(args.url, args.token, args.concurrency, args.seconds, args.max_requests, args.rate))
    print(json.dumps(result))
