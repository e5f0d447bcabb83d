"""Open-loop load generator process: creates offered at a fixed rate, whatever the answers; prints JSON.

``python -m bench.loadgen --url URL --token T --rate R --seconds S``: request *i* is due at ``start + i/R``
and is sent then, on a connection of its own if every other is busy (at most ``--max-in-flight``; a
request that finds that many waiting is *dropped*, and counted). Each request's latency is timed from
when it was due, not from when it went out, so a server that falls behind cannot hide it (no
coordinated omission). The JSON holds every answer's status, the rate of 201s kept (from the first due
time to the last answer) and, for each 201, the referral id with the wall time it was due and answered.
Closed-loop throughput is wrk's job (bench/wrk.py). Loopback targets only; bounded by time and by count.

It speaks HTTP/1.1 itself over keep-alive connections (asyncio streams, one prepared request): httpx cost
about 1.9 ms of CPU a request, so at 300/s it took more than half a core of the two that the system
under test runs on; this costs a tenth of that. It reads what uvicorn answers (a ``Content-Length``
body); anything else counts as an error of the request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit

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


class ProtocolError(Exception):
    """An answer this client does not read (no ``Content-Length``, or not HTTP/1.1)."""


Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def request_bytes(host: str, port: int, token: str) -> bytes:
    """The create, as it goes on the wire every time."""
    body = json.dumps(BODY).encode()
    head = (
        f"POST /v1/referrals HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def exchange(stream: Stream, request: bytes) -> tuple[int, bytes, bool]:
    """Send ``request`` and read its answer: (status, body, whether the connection stays open)."""
    reader, writer = stream
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 "):
        raise ProtocolError("not an HTTP/1.1 answer")
    status, length, keep = int(head[9:12]), None, True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
    if length is None:
        raise ProtocolError("an answer without Content-Length")
    return status, await reader.readexactly(length), keep


def loopback(url: str) -> tuple[str, int]:
    target = urlsplit(url)
    host, port = target.hostname or "", target.port or 80
    if target.scheme != "http" or not (host.startswith("127.") or host == "localhost"):
        raise SystemExit("loopback targets only")
    return host, port


class Answers:
    """What the requests of one run got back, on keep-alive connections shared between them."""

    def __init__(self, host: str, port: int, request: bytes) -> None:
        self._host, self._port, self._request = host, port, request
        self.statuses: dict[str, int] = {}
        self.created: list[tuple[str, float, float]] = []  # (id, due wall time, answered wall time)
        self.latencies: list[float] = []  # from when each request was due, seconds
        self._idle: list[Stream] = []  # open connections that no request uses

    def _count(self, status: str) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1

    async def one(self, due_wall: float, due: float) -> None:
        stream = self._idle.pop() if self._idle else None
        try:
            async with asyncio.timeout(30):
                if stream is not None:
                    try:
                        status, body, keep = await exchange(stream, self._request)
                    except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
                        # the server closed an idle keep-alive connection (uvicorn after 5 s) as we sent:
                        # as any client, send again on a new one; an answer cut short is an error
                        if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                            raise
                        stream[1].close()
                        stream = None
                if stream is None:
                    stream = await asyncio.open_connection(self._host, self._port)
                    status, body, keep = await exchange(stream, self._request)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ProtocolError) as exc:
            self._count(type(exc).__name__)
            if stream is not None:
                stream[1].close()
            return
        self.latencies.append(time.perf_counter() - due)
        self._count(str(status))
        if status == 201:
            self.created.append((str(json.loads(body)["id"]), due_wall, time.time()))
        if keep:
            self._idle.append(stream)
        else:
            stream[1].close()

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()


async def offer(url: str, token: str, *, rate: float, seconds: float, max_in_flight: int) -> dict[str, Any]:
    host, port = loopback(url)
    count = min(int(rate * seconds), MAX_REQUESTS)
    answers = Answers(host, port, request_bytes(host, port, token))
    dropped = 0
    in_flight: set[asyncio.Task[None]] = set()
    start, start_wall = time.perf_counter(), time.time()
    for index in range(count):
        due = start + index / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        if len(in_flight) >= max_in_flight:
            dropped += 1
            continue
        task = asyncio.create_task(answers.one(start_wall + index / rate, due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    offered_s = time.perf_counter() - start
    await asyncio.gather(*in_flight)
    answered_s = time.perf_counter() - start
    answers.close()
    latencies, created = sorted(answers.latencies), answers.created
    return {
        "offered": count,
        "offered_per_s": rate,
        "offered_seconds": round(offered_s, 2),
        "dropped": dropped,
        "statuses": answers.statuses,
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
