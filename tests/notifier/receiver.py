"""A real webhook receiver on loopback for the notifier tests: records every request it gets and
answers as each path is told to (status, Retry-After, or hanging for a while)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG_LIMIT_S = 10.0  # a hanging answer is bounded: tests must end


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when the request arrived


@dataclass
class Behaviour:
    statuses: list[int] = field(default_factory=list)  # answers in turn; the last one repeats; default 204
    retry_after: str | None = None
    hang_s: float = 0.0


class Receiver:
    def __init__(self, port: int = 0) -> None:
        self.behaviour: dict[str, Behaviour] = {}
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request: nothing was delivered
                    return
                with receiver._lock:
                    behaviour = receiver.behaviour.get(self.path, Behaviour())
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
                    )
                    status = (
                        behaviour.statuses.pop(0) if len(behaviour.statuses) > 1 else (behaviour.statuses or [204])[0]
                    )
                if behaviour.hang_s:
                    time.sleep(min(behaviour.hang_s, HANG_LIMIT_S))
                self.send_response(status)
                if behaviour.retry_after is not None and status in (429, 503):
                    self.send_header("Retry-After", behaviour.retry_after)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return None

        return Handler

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def receiving(port: int = 0) -> Iterator[Receiver]:
    with Receiver(port) as receiver:
        yield receiver
