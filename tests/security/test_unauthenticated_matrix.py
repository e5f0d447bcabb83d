"""The 401 matrix: every route of the three apps that takes no id, called by every kind of caller that holds
no valid credential for that app (none, malformed ones, a real one in the wrong scheme, a revoked one,
another service's, forged or revoked dashboard sessions). The routes come from the apps themselves: the
OpenAPI's paths without a parameter, plus every route the app keeps out of its OpenAPI. A route the app
has and ``ROUTES`` does not place fails the test until it is given a rule here.

The rules (``Rule``):

- ``REFUSED``: 401, ``application/problem+json``, ``WWW-Authenticate: Bearer``. Every API route.
- ``PUBLIC``: 200 to anyone, by design. ``/healthz``, ``/readyz`` and ``/metrics`` (DESIGN §6: liveness,
  readiness and Prometheus metrics without personal data; each app's description names them as the only
  API routes needing no credential), and the API's description (``/openapi.json``, ``/docs``,
  ``/docs/oauth2-redirect``, ``/redoc``): the contract is public, the data is not.
- ``TO_SIGN_IN``: the dashboard (``GET /``) answers a browser without a live session with its sign-in page's
  address (303 to ``/login``), never the page. Only the session cookie counts there: a bearer header,
  even a valid one, does not open the dashboard.
- ``SIGN_IN_FORM``: ``GET /login`` is the sign-in form itself, to anyone.
- ``SIGN_IN_REFUSED``: ``POST /login`` with what such a caller would type (the credential it holds)
  goes back to ``/login?failed=1`` and sets no cookie; an empty form is 422 problem+json.
- ``SIGNED_OUT``: ``POST /logout`` goes to ``/login`` and at most deletes the cookie.
- The agency inbox (``/agency/``) has rules of the same kinds: ``INBOX_ROOT`` (``/agency`` is 308 to
  ``/agency/``), ``INBOX_TO_SIGN_IN`` (303 to ``/agency/login``, no cookie), ``INBOX_SIGN_IN_FORM`` (200, the
  form with a fresh login token and only that token's cookie), ``INBOX_SIGN_IN_REFUSED`` (without the form's
  token: 303 to ``/agency/login?failed=expired``, no session cookie; 422 for an empty form),
  ``INBOX_SIGNED_OUT`` (303 to ``/agency/login``) and ``INBOX_STATIC`` (the inbox's scripts and stylesheet,
  byte for byte, never its pages). Its JSON under ``/agency/api/`` is ``REFUSED`` like the API.
- ``STATIC``: ``/static/{name}`` is public by design: the sign-in page needs its stylesheet and scripts
  before anyone has signed in, and the directory holds code, no data. It serves exactly the files of the
  tracker's static directory, byte for byte, and nothing else: no name, raw or percent-encoded (dot
  segments, encoded slashes and backslashes, double encoding, NUL, an overlong name), reaches a file
  outside it (``test_static_files_never_leave_their_directory``).

No answer to these callers names the referral, case or subscription the fixtures hold.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import unquote

import anyio
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from rujukan.referral.api.auth import COOKIE as INBOX_COOKIE
from rujukan.referral.api.inbox_routes import LOGIN_COOKIE
from rujukan.referral.api.inbox_routes import STATIC as INBOX_STATIC
from rujukan.tracker.access import TrackerRole, issue_tracker_credential, revoke_tracker_credential
from rujukan.tracker.api.auth import COOKIE
from rujukan.tracker.api.dashboard import STATIC
from tests.security.conftest import REQUESTER, NotifierApi, ReferralApi, TrackerApi, agency_strangers

pytestmark = pytest.mark.integration


class Rule(Enum):
    REFUSED = "401 problem+json with WWW-Authenticate: Bearer"
    FHIR_REFUSED = "401, an OperationOutcome (application/fhir+json), WWW-Authenticate: Bearer"
    PUBLIC = "200 to anyone"
    TO_SIGN_IN = "303 to /login, no cookie"
    SIGN_IN_FORM = "200, the sign-in form"
    SIGN_IN_REFUSED = "303 to /login?failed=1 and no cookie (422 for an empty form)"
    SIGNED_OUT = "303 to /login, the cookie at most deleted"
    STATIC = "200 with the bytes of a file of the static directory"
    INBOX_ROOT = "308 to /agency/"
    INBOX_TO_SIGN_IN = "303 to /agency/login, no cookie"
    INBOX_SIGN_IN_FORM = "200, the inbox's sign-in form and its login token's cookie only"
    INBOX_SIGN_IN_REFUSED = "303 to /agency/login?failed=expired and no session cookie (422 for an empty form)"
    INBOX_SIGNED_OUT = "303 to /agency/login"
    INBOX_STATIC = "200 with the bytes of a script or stylesheet of the inbox"


DESCRIPTION = ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")
OPEN_TO_ALL = {
    **{(method, path): Rule.PUBLIC for path in DESCRIPTION for method in ("GET", "HEAD")},
    **{("GET", path): Rule.PUBLIC for path in ("/healthz", "/readyz", "/metrics")},
}
ROUTES: dict[str, dict[tuple[str, str], Rule]] = {
    "referral": {
        **OPEN_TO_ALL,
        **{route: Rule.REFUSED for route in [("GET", "/v1/me"), ("GET", "/v1/referrals"), ("POST", "/v1/referrals")]},
        **{
            ("GET", f"/v1/transparency/{path}"): Rule.REFUSED
            for path in ("checkpoint", "public-keys", "proofs/inclusion", "proofs/consistency")
        },
        **{("GET", f"/v1/directory/{path}"): Rule.REFUSED for path in ("services", "match", "hsds")},
        ("GET", "/v1/pathway-templates"): Rule.REFUSED,
        ("GET", "/v1/follow-ups"): Rule.REFUSED,
        # FHIR: the CapabilityStatement is public (FHIR clients read it first); the rest as /v1
        ("GET", "/fhir/r4/metadata"): Rule.PUBLIC,
        **{
            route: Rule.FHIR_REFUSED
            for route in [
                ("POST", "/fhir/r4"),
                ("POST", "/fhir/r4/"),
                ("GET", "/fhir/r4/Task"),
                ("GET", "/fhir/r4/CodeSystem"),
            ]
        },
        ("GET", "/agency"): Rule.INBOX_ROOT,
        ("GET", "/agency/"): Rule.INBOX_TO_SIGN_IN,
        ("GET", "/agency/login"): Rule.INBOX_SIGN_IN_FORM,
        ("POST", "/agency/login"): Rule.INBOX_SIGN_IN_REFUSED,
        ("POST", "/agency/logout"): Rule.INBOX_SIGNED_OUT,
        ("GET", "/agency/static/{name}"): Rule.INBOX_STATIC,
        **{
            ("GET", f"/agency/api/{path}"): Rule.REFUSED
            for path in ("me", "inbox", "changes", "vocabulary", "staff", "csrf")
        },
    },
    "tracker": {
        **OPEN_TO_ALL,
        **{
            ("GET", path): Rule.REFUSED
            for path in (
                "/v1/handoffs",
                "/v1/stats/funnel",
                "/v1/stats/indicators/354",
                "/v1/stats/capacity",
                "/v1/stats/pathways",
                "/v1/stats/staff",
                "/v1/stream",
            )
        },
        ("GET", "/"): Rule.TO_SIGN_IN,
        ("GET", "/login"): Rule.SIGN_IN_FORM,
        ("POST", "/login"): Rule.SIGN_IN_REFUSED,
        ("GET", "/static/{name}"): Rule.STATIC,
        ("POST", "/logout"): Rule.SIGNED_OUT,
    },
    "notifier": {
        **OPEN_TO_ALL,
        **{
            route: Rule.REFUSED
            for route in [
                ("GET", "/v1/subscription"),
                ("PUT", "/v1/subscription"),
                ("POST", "/v1/subscription/rotate"),
                ("GET", "/v1/deliveries"),
            ]
        },
    },
}


def routes_without_an_id(app: FastAPI) -> set[tuple[str, str]]:
    """The OpenAPI's routes without a path parameter, and every route kept out of the OpenAPI. FastAPI
    keeps an included router's routes inside it (``app.routes`` alone misses the dashboard's), so the
    routes are walked as FastAPI's own OpenAPI walks them (``iter_route_contexts``)."""
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    described = {(method.upper(), path) for path, methods in paths.items() if "{" not in path for method in methods}
    hidden = {
        (method, str(route.path))
        for route in iter_route_contexts(app.routes)
        if not route.include_in_schema
        for method in route.methods or ()
    }
    return described | hidden


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Any
    body: bytes


def typed(headers: dict[str, str]) -> str:
    """What a caller would type into the sign-in form: the credential it holds, if any."""
    return headers.get("Authorization", "").removeprefix("Bearer ")


def send(client: TestClient, method: str, url: str, headers: dict[str, str]) -> Answer:
    """One request, redirects not followed, no cookie but the caller's; an event stream is not read."""
    client.cookies.clear()
    form = {"credential": typed(headers)} if (method, url) == ("POST", "/login") else None
    if (method, url) == ("POST", "/agency/login"):
        form = {"secret": typed(headers)} if typed(headers) else None
    with client.stream(method, url, headers=headers, data=form, follow_redirects=False) as response:
        streaming = response.headers.get("content-type", "").startswith("text/event-stream")
        return Answer(response.status_code, response.headers, b"" if streaming else response.read())


def expand(app: str, route: tuple[str, str]) -> Iterator[str]:
    """The URLs that exercise a route: the static route once per file of the static directory."""
    if ROUTES[app][route] is Rule.STATIC:
        yield from (f"/static/{file.name}" for file in sorted(STATIC.iterdir()) if file.is_file())
    elif ROUTES[app][route] is Rule.INBOX_STATIC:
        yield from (f"/agency/static/{f.name}" for f in sorted(INBOX_STATIC.iterdir()) if f.suffix in (".js", ".css"))
    else:
        yield route[1]


def check(rule: Rule, url: str, answer: Answer, form: str) -> None:
    cookies = answer.headers.get_list("set-cookie")
    if rule is Rule.REFUSED:
        assert answer.status == 401
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"] == "Bearer"
    elif rule is Rule.FHIR_REFUSED:
        assert answer.status == 401
        assert answer.headers["content-type"] == "application/fhir+json"
        assert answer.headers["www-authenticate"] == "Bearer"
        assert json.loads(answer.body)["issue"][0]["code"] == "login"
    elif rule is Rule.PUBLIC:
        assert answer.status == 200
    elif rule is Rule.TO_SIGN_IN:
        assert (answer.status, answer.headers.get("location"), cookies) == (303, "/login", [])
    elif rule is Rule.SIGN_IN_FORM:
        assert (answer.status, answer.body) == (200, (STATIC / "login.html").read_bytes())
    elif rule is Rule.SIGN_IN_REFUSED:
        refused = (422, None) if not form else (303, "/login?failed=1")
        assert (answer.status, answer.headers.get("location"), cookies) == (*refused, [])
    elif rule is Rule.SIGNED_OUT:
        assert (answer.status, answer.headers.get("location")) == (303, "/login")
        assert all(c.startswith(f'{COOKIE}=""') and "Max-Age=0" in c for c in cookies), cookies
    elif rule.name.startswith("INBOX_"):
        check_inbox(rule, url, answer, form)
    else:
        assert (answer.status, answer.body) == (200, (STATIC / url.removeprefix("/static/")).read_bytes())


def check_inbox(rule: Rule, url: str, answer: Answer, form: str) -> None:
    cookies = answer.headers.get_list("set-cookie")
    if rule is Rule.INBOX_ROOT:
        assert (answer.status, answer.headers.get("location"), cookies) == (308, "/agency/", [])
    elif rule is Rule.INBOX_TO_SIGN_IN:
        assert (answer.status, answer.headers.get("location"), cookies) == (303, "/agency/login", [])
    elif rule is Rule.INBOX_SIGN_IN_FORM:
        assert answer.status == 200
        assert b'action="/agency/login"' in answer.body
        assert [c.split("=")[0] for c in cookies] == [LOGIN_COOKIE]
    elif rule is Rule.INBOX_SIGN_IN_REFUSED:
        refused = (422, None) if not form else (303, "/agency/login?failed=expired")
        assert (answer.status, answer.headers.get("location")) == refused
        assert not [c for c in cookies if c.startswith(f"{INBOX_COOKIE}=") and "Max-Age=0" not in c], cookies
    elif rule is Rule.INBOX_SIGNED_OUT:
        assert (answer.status, answer.headers.get("location")) == (303, "/agency/login")
        assert all(c.startswith(f'{INBOX_COOKIE}=""') and "Max-Age=0" in c for c in cookies), cookies
    elif rule is Rule.INBOX_STATIC:
        name = url.removeprefix("/agency/static/")
        assert (answer.status, answer.body) == (200, (INBOX_STATIC / name).read_bytes())


def run_matrix(app: str, client: TestClient, callers: dict[str, dict[str, str]], private: list[str]) -> int:
    """Every route without an id by every caller, checked against its rule, no answer naming anything
    ``private``; the number of requests."""
    found = routes_without_an_id(client.app)  # type: ignore[arg-type]
    assert found == set(ROUTES[app]), f"{app}: place {found ^ set(ROUTES[app])} in ROUTES (or remove)"
    sent = 0
    for name, headers in callers.items():
        ends_a_session = (("POST", "/logout"), ("POST", "/agency/logout"))
        for route in sorted(found, key=lambda r: (r in ends_a_session, r)):  # a session ends last
            for url in expand(app, route):
                answer = send(client, route[0], url, headers)
                try:
                    check(ROUTES[app][route], url, answer, typed(headers))
                except AssertionError as exc:
                    raise AssertionError(f"{app} {route[0]} {url} by {name}: {answer.status} {exc}") from exc
                assert not [p for p in private if p.encode() in answer.body], (app, url, name)
                sent += 1
    return sent


def with_forged_session(callers: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {**callers, "forged session": {"Cookie": f"{COOKIE}={secrets.token_urlsafe(32)}"}}


def test_referral_routes_without_an_id_refuse_strangers(referral_api: ReferralApi, tracker_api: TrackerApi) -> None:
    callers = with_forged_session(agency_strangers(referral_api, tracker_api))
    callers["forged inbox session"] = {"Cookie": f"{INBOX_COOKIE}={secrets.token_urlsafe(32)}"}
    private = [referral_api.referral["id"], referral_api.referral["subject_id"]]
    sent = run_matrix("referral", referral_api.client, callers, private)
    inbox_files = len([f for f in INBOX_STATIC.iterdir() if f.suffix in (".js", ".css")])
    routes = len(ROUTES["referral"]) - 1 + inbox_files  # the static route once per file
    assert sent == routes * len(callers) == (23 + 5 + 11 + inbox_files) * 8


def test_notifier_routes_without_an_id_refuse_strangers(
    notifier_api: NotifierApi, referral_api: ReferralApi, tracker_api: TrackerApi
) -> None:
    callers = with_forged_session(agency_strangers(referral_api, tracker_api))
    private = [referral_api.referral["id"], "127.0.0.1:9"]  # the referral, the subscriptions' URLs
    sent = run_matrix("notifier", notifier_api.client, callers, private)
    assert sent == len(ROUTES["notifier"]) * len(callers) == 15 * 7


def test_tracker_routes_without_an_id_refuse_strangers(tracker_api: TrackerApi, referral_api: ReferralApi) -> None:
    callers = with_forged_session(tracker_strangers(tracker_api, referral_api))
    private = [str(tracker_api.journey.referral_id), str(tracker_api.journey.case_id)]
    sent = run_matrix("tracker", tracker_api.client, callers, private)
    static_files = len([file for file in STATIC.iterdir() if file.is_file()])
    assert sent == (len(ROUTES["tracker"]) - 1 + static_files) * len(callers) == (22 + 5) * 9


def tracker_strangers(tracker_api: TrackerApi, referral_api: ReferralApi) -> dict[str, dict[str, str]]:
    """Callers the tracker must refuse: a coordinator credential revoked after it signed in to the
    dashboard (its bearer and its session), malformed ones, the wrong scheme, an agency's credential."""
    client, db = tracker_api.client, tracker_api.db
    credential_id, revoked = issue_tracker_credential(db, role=TrackerRole.COORDINATOR, name="uji dicabut")
    signed_in = client.post("/login", data={"credential": revoked}, follow_redirects=False)
    assert signed_in.status_code == 303, signed_in.text
    session = signed_in.cookies[COOKIE]
    assert send(client, "GET", "/", {"Cookie": f"{COOKIE}={session}"}).status == 200  # a live session opens it
    revoke_tracker_credential(db, credential_id=credential_id)
    return {
        "none": {},
        "malformed": {"Authorization": "Bearer not-a-credential"},
        "forged": {"Authorization": "Bearer rjk_" + "x" * 43},
        "basic scheme": {"Authorization": f"Basic {tracker_api.secrets[TrackerRole.COORDINATOR]}"},
        "revoked": {"Authorization": f"Bearer {revoked}"},
        "session of a revoked credential": {"Cookie": f"{COOKIE}={session}"},
        "agency credential": referral_api.auth(REQUESTER),
        "auditor credential as a cookie": {"Cookie": f"{COOKIE}={tracker_api.secrets[TrackerRole.AUDITOR]}"},
    }


OUTSIDE = ["../api/app.py", "../../../../../pyproject.toml"]  # relative to the static directory, in a checkout
TRAVERSALS = [
    b"/static/../api/app.py",
    b"/static/../../../../../pyproject.toml",
    b"/static/..%2fapi%2fapp.py",
    b"/static/..%2f..%2f..%2f..%2f..%2fpyproject.toml",
    b"/static/%2e%2e/api/app.py",
    b"/static/%2e%2e%2fapi%2fapp.py",
    b"/static/%2E%2E%2Fapi%2Fapp.py",
    b"/static/..%5capi%5capp.py",
    b"/static/..\\api\\app.py",
    b"/static/%252e%252e%252fapi%252fapp.py",
    b"/static/%c0%ae%c0%ae%2fapi%2fapp.py",
    b"/static/..",
    b"/static/%2e%2e",
    b"/static/.",
    b"/static/%2fetc%2fpasswd",
    b"/static//etc/passwd",
    b"/static/dashboard.css%00",
    b"/static/..%00%2fapi%2fapp.py",
    b"/static/" + b"a" * 300,
    b"/static/./dashboard.css",
    b"/static/dashboard.css/.",
]


def test_static_files_never_leave_their_directory(tracker_api: TrackerApi) -> None:
    """Each target raw, as a client that keeps dot segments (``curl --path-as-is``) hands it to the server:
    404, never a 5xx; and as the test client sends it (dot segments removed, so ``/static/./x`` is the
    file ``x`` and ``/static/..`` the dashboard): never a 5xx, and a 200 only with a static file's bytes.
    No answer carries a byte of the files a traversal would reach."""
    outside = [(STATIC / name).resolve() for name in OUTSIDE]
    assert all(path.is_file() for path in outside), outside  # the files a traversal would reach exist
    contents = [path.read_bytes() for path in outside]
    inside = {file.read_bytes() for file in STATIC.iterdir() if file.is_file()}
    for target in TRAVERSALS:
        raw_status, raw_body = raw_get(tracker_api.client.app, target)
        assert raw_status == 404, (target, raw_status)
        status, body = through_client(tracker_api.client, target)
        assert status < 500, (target, status)
        assert status != 200 or body in inside, target
        assert not any(content in raw_body or content in body for content in contents), target


def through_client(client: TestClient, target: bytes) -> tuple[int, bytes]:
    answer = send(client, "GET", target.decode("latin-1"), {})
    return answer.status, answer.body


def raw_get(app: Any, target: bytes) -> tuple[int, bytes]:
    """A GET of ``target`` exactly as given, its path percent-decoded as uvicorn decodes it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(target.decode("latin-1")),
        "raw_path": target,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def exchange() -> None:
        answered = anyio.Event()
        asked = False

        async def receive() -> dict[str, Any]:  # the request once, then a disconnect once answered
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await answered.wait()
            return {"type": "http.disconnect"}

        async def send_(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered.set()

        await app(scope, receive, send_)

    with contextlib.suppress(Exception):  # Starlette raises a server error again after answering 500
        anyio.run(exchange)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return int(status), b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
