"""Sending one webhook: the only place where the notifier talks to a receiver.

:func:`send` makes one signed POST and returns what came of it as an
:class:`~rujukan.notifier.retry.Answer`: the status code and ``Retry-After``, or no status and the name of
the httpx error when no HTTP answer came (timeout, refused or reset connection). Deciding what that means
for the delivery is left to :func:`rujukan.notifier.retry.next_state`. The HTTP client is a parameter, so
tests put an ``httpx.MockTransport`` under :func:`webhook_client` and exercise this seam without a socket.

The client follows no redirect (a 3xx could lead anywhere; it counts as a permanent failure) and takes no
proxy from the environment (the SSRF guard must see where we connect). The answer's body is read only to
be thrown away: a short one to its end, so the connection can be reused; a long one up to
``MAX_ANSWER_BYTES``, after which the connection is dropped, so a receiver cannot make us read a large
body. The signature's ``webhook-timestamp`` is the wall clock, which is what receivers check it against.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import httpx2 as httpx

from rujukan.notifier.retry import Answer
from rujukan.notifier.signing import signature_headers

USER_AGENT = "Rujukan-Webhooks/1"
MAX_ANSWER_BYTES = 64 * 1024


def webhook_client(
    *, timeout_s: float, max_connections: int, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """The client of every attempt; ``transport`` replaces the network (tests)."""
    return httpx.Client(
        follow_redirects=False,
        timeout=timeout_s,
        headers={"user-agent": USER_AGENT},
        trust_env=False,  # no proxy from the environment: the SSRF guard must see where we connect
        limits=httpx.Limits(max_connections=max_connections),
        transport=transport,
    )


def send(
    client: httpx.Client,
    url: str,
    *,
    body: bytes,
    message_id: str,
    secrets: Sequence[str],
    max_answer_bytes: int = MAX_ANSWER_BYTES,
) -> Answer:
    """POST ``body`` (JSON) to ``url``, signed with every secret given (newest first). A failed request
    (any ``httpx.HTTPError``) is an :class:`Answer` without a status; anything else (an invalid URL, a bug)
    is raised, for the caller to count as a failed attempt."""
    headers = signature_headers(list(secrets), message_id=message_id, timestamp=int(time.time()), body=body)
    headers["content-type"] = "application/json"
    try:
        with client.stream("POST", url, content=body, headers=headers) as response:
            _drain(response, max_answer_bytes)
            return Answer(response.status_code, retry_after=response.headers.get("retry-after"))
    except httpx.HTTPError as exc:
        return Answer(None, error=f"no answer ({type(exc).__name__})")


def _drain(response: httpx.Response, max_bytes: int) -> None:
    """Read a short answer body to the end (so the connection can be reused); stop past ``max_bytes``
    (the connection is then dropped: a receiver cannot make us read a large body). A body that was read
    before it got here (an in-memory answer, such as ``httpx.Response(204)`` from a ``MockTransport``)
    holds no connection: nothing to do."""
    if response.is_stream_consumed:
        return
    read = 0
    for chunk in response.iter_raw():
        read += len(chunk)
        if read > max_bytes:
            return
