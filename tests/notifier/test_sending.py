"""The sending seam (``sending.send`` on the real client settings), with ``httpx.MockTransport`` in place
of the network: what goes out, what an answer becomes, and how much of an answer's body is read."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx2 as httpx
import pytest
from standardwebhooks.webhooks import Webhook

from rujukan.notifier.retry import Answer
from rujukan.notifier.sending import MAX_ANSWER_BYTES, USER_AGENT, send, webhook_client
from rujukan.notifier.signing import new_secret

URL = "https://receiver.example/hooks/bapas"
BODY = json.dumps({"type": "referral.accepted", "data": {"referral_id": "r-1"}}).encode()
CHUNK = 4096


class CountedBody(httpx.SyncByteStream):
    """An answer body of ``size`` bytes that counts what was read of it and knows whether it was closed."""

    def __init__(self, size: int) -> None:
        self.size, self.read, self.closed = size, 0, False

    def __iter__(self) -> Iterator[bytes]:
        while self.read < self.size:
            chunk = b"x" * min(CHUNK, self.size - self.read)
            self.read += len(chunk)
            yield chunk

    def close(self) -> None:
        self.closed = True


def post(handler: Callable[[httpx.Request], httpx.Response], *, secrets: list[str] | None = None) -> Answer:
    with webhook_client(timeout_s=2.0, max_connections=2, transport=httpx.MockTransport(handler)) as client:
        return send(client, URL, body=BODY, message_id="evt-1", secrets=secrets or [new_secret()])


def test_the_request_is_a_signed_json_post_that_verifies() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    new, old = new_secret(), new_secret()
    assert post(handler, secrets=[new, old]) == Answer(204)
    (request,) = seen
    assert (request.method, str(request.url), request.content) == ("POST", URL, BODY)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == USER_AGENT
    assert request.headers["webhook-id"] == "evt-1"
    for secret in (new, old):  # both secrets sign while a rotation overlaps
        Webhook(secret).verify(request.content, dict(request.headers))


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(200), Answer(200)),
        (httpx.Response(429, headers={"Retry-After": "120"}), Answer(429, retry_after="120")),
        (
            httpx.Response(503, headers={"Retry-After": "Sun, 22 Nov 2026 12:05:00 GMT"}),
            Answer(503, retry_after="Sun, 22 Nov 2026 12:05:00 GMT"),
        ),
        (httpx.Response(410, text="gone for good"), Answer(410)),
    ],
)
def test_the_answer_carries_the_status_and_retry_after(response: httpx.Response, expected: Answer) -> None:
    assert post(lambda request: response) == expected


def test_a_redirect_is_answered_not_followed() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data"})

    assert post(handler) == Answer(302)
    assert calls == [URL]


def test_a_short_body_is_read_to_its_end() -> None:
    body = CountedBody(1000)
    assert post(lambda request: httpx.Response(200, stream=body)) == Answer(200)
    assert body.read == 1000  # all of it: the connection can be reused
    assert body.closed


def test_a_body_larger_than_the_cap_is_cut_off() -> None:
    body = CountedBody(50 * MAX_ANSWER_BYTES)
    assert post(lambda request: httpx.Response(500, stream=body)) == Answer(500)
    assert MAX_ANSWER_BYTES < body.read <= MAX_ANSWER_BYTES + CHUNK  # up to the cap, then no further
    assert body.closed  # the connection is dropped, not read on


@pytest.mark.parametrize(
    "error", [httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout, httpx.RemoteProtocolError]
)
def test_a_transport_error_is_an_answer_without_a_status(error: type[httpx.TransportError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("the receiver is unreachable", request=request)

    assert post(handler) == Answer(None, error=f"no answer ({error.__name__})")


def test_a_connection_reset_while_the_body_is_read_is_no_answer() -> None:
    class Reset(CountedBody):
        def __iter__(self) -> Iterator[bytes]:
            yield b"partial"
            raise httpx.ReadError("connection reset by peer")

    assert post(lambda request: httpx.Response(200, stream=Reset(0))) == Answer(None, error="no answer (ReadError)")


def test_an_error_that_is_not_an_http_error_is_raised() -> None:
    """A bug is not a receiver's answer: the dispatcher counts it as an internal error (``_work``)."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        post(handler)
