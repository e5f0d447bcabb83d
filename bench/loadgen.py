"""Open-loop load generator process: creates offered at a fixed rate, whatever the answers; prints JSON.

``python -m bench.loadgen --url URL --token T --rate R --seconds S``: request *i* is due at ``start + i/R``
and is sent then, on a connection of its own if every other is busy (at most ``--max-in-flight``; a
request that finds that many waiting is *dropped*, and counted). Each request's latency is timed from
when it was due, not from when it went out, so a server that falls behind cannot hide it (no
coordinated omission). The JSON holds every answer's status, the rate of 201s kept (from the first due
time to the last answer) and, for each 201, the referral id with the wall time it was due and answered.
Closed-loop throughput is wrk's job (bench/wrk.py). Loopback targets only; bounded by time and by count.
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
MAX_REQUESTS = 100_000


def percentile(ordered: list[float], p: float, *, empty: float) -> float:
    """The ``p`` quantile (0..1) of ascending ``ordered`` values, nearest rank; ``empty`` when there are none."""
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else empty


async def offer(url: str, token: str, *, rate: float, seconds: float, max_in_flight: int) -> dict[str, Any]:
    if not url.startswith(("http://127.", "http://localhost")):
        raise SystemExit("loopback targets only")
    count = min(int(rate * seconds), MAX_REQUESTS)
    limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)
    statuses: dict[str, int] = {}
    created: list[tuple[str, float, float]] = []  # (id, due wall time, answered wall time)
    latencies: list[float] = []
    dropped = 0
    in_flight: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=30
    ) as client:

        async def one(due_wall: float, due: float) -> None:
            try:
                answer = await client.post("/v1/referrals", json=BODY)
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
                return
            latencies.append(time.perf_counter() - due)
            statuses[str(answer.status_code)] = statuses.get(str(answer.status_code), 0) + 1
            if answer.status_code == 201:
                created.append((str(answer.json()["id"]), due_wall, time.time()))

        start, start_wall = time.perf_counter(), time.time()
        for index in range(count):
            due = start + index / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if len(in_flight) >= max_in_flight:
                dropped += 1
                continue
            task = asyncio.create_task(one(start_wall + index / rate, due))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        offered_s = time.perf_counter() - start
        await asyncio.gather(*in_flight)
        answered_s = time.perf_counter() - start
    latencies.sort()
    return {
        "offered": count,
        "offered_per_s": rate,
        "offered_seconds": round(offered_s, 2),
        "dropped": dropped,
        "statuses": statuses,
        "answered_201": len(created),
        "answered_share": round(len(created) / count, 4) if count else 0.0,
        # 201s per second from the first request's due time to the last answer: the rate the system kept
        "answered_per_s": round(len(created) / answered_s, 1) if answered_s else 0.0,
        "create_p50_ms_from_due": percentile(latencies, 0.5, empty=0.0) * 1000,
        "create_p99_ms_from_due": percentile(latencies, 0.99, empty=0.0) * 1000,
        "created": created,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--rate", type=float, required=True, help="creates offered per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--max-in-flight", type=int, default=512)
    args = parser.parse_args()
    found = asyncio.run(
        offer(args.url, args.token, rate=args.rate, seconds=args.seconds, max_in_flight=args.max_in_flight)
    )
    print(json.dumps(found))
