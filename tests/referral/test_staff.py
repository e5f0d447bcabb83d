"""Staff accounts and the agency inbox's HTTP side, on SQLite and PostgreSQL: every event records the acting
person's pseudonym, disabling a person refuses their next request, the inbox session's cookie and CSRF
rules, the outsider's 404, the inbox lists (overdue first) and who may see the names behind pseudonyms."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from rujukan.referral.api.app import create_app
from rujukan.referral.context import ReferralContext
from rujukan.referral.errors import Unauthenticated
from rujukan.referral.models import DirectoryEvent, ReferralEvent
from rujukan.referral.settings import ReferralSettings
from rujukan.referral.staff import StaffRole, add_staff, disable_staff, session_staff
from tests.referral.conftest import SUBJECT, Agencies, referral_body
from tests.referral.test_directory import entry as directory_entry

CSRF = re.compile(r'name="csrf-token" content="([0-9a-f]{64})"')
LOGIN_NONCE = re.compile(r'name="csrf" value="([^"]+)"')


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def inbox_ctx(ctx: ReferralContext, clock: Clock) -> Iterator[ReferralContext]:
    moved = dataclasses.replace(ctx, clock=clock)
    yield moved
    moved.close()


@pytest.fixture
def app_client(settings: ReferralSettings, inbox_ctx: ReferralContext) -> Iterator[TestClient]:
    with TestClient(create_app(settings, context=inbox_ctx), raise_server_exceptions=False) as test_client:
        yield test_client


def _secret(ctx: ReferralContext, agency: str, name: str, role: StaffRole = StaffRole.CASEWORKER) -> tuple[str, str]:
    issued = add_staff(ctx, agency_code=agency, name=name, role=role)
    return issued.staff.id, issued.secret


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _sign_in(client: TestClient, secret: str) -> str:
    """Sign in as the inbox's form does; the session's CSRF token from the page, which the client then sends
    on every request, as the page's script does."""
    page = client.get("/agency/login")
    nonce = LOGIN_NONCE.search(page.text)
    assert nonce is not None
    answer = client.post("/agency/login", data={"secret": secret, "csrf": nonce.group(1)}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/agency/"
    inbox = client.get("/agency/")
    assert inbox.status_code == 200
    found = CSRF.search(inbox.text)
    assert found is not None
    client.headers["X-CSRF-Token"] = found.group(1)
    return found.group(1)


def _events(ctx: ReferralContext, referral_id: str) -> list[dict[str, Any]]:
    with ctx.read() as session:
        query = select(ReferralEvent).where(ReferralEvent.referral_id == referral_id).order_by(col(ReferralEvent.seq))
        rows = session.exec(query).all()
    return [ctx.codec.decode(row.payload).record for row in rows]


def test_every_event_records_the_acting_person_and_a_machine_credential_none(
    app_client: TestClient, inbox_ctx: ReferralContext, agencies: Agencies
) -> None:
    lapas_id, lapas = _secret(inbox_ctx, "LAPAS-CIPINANG", "Siti Lapas")
    bapas_id, bapas = _secret(inbox_ctx, "BAPAS-JAKTIM", "Andi Bapas")
    created = app_client.post("/v1/referrals", json=referral_body(), headers=_bearer(lapas))
    assert created.status_code == 201, created.text
    referral_id = created.json()["id"]
    csrf = _sign_in(app_client, bapas)  # the Bapas person works in the inbox: cookie and CSRF header
    for action in ("acknowledge", "accept"):
        answer = app_client.post(f"/v1/referrals/{referral_id}/{action}", json={}, headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 200, answer.text
    machine = app_client.post(
        f"/v1/referrals/{referral_id}/start", json={"note": "mulai"}, headers=agencies["BAPAS-JAKTIM"]
    )
    assert machine.status_code == 200, machine.text
    records = _events(inbox_ctx, referral_id)
    assert [(r["event_type"], r["actor_agency"], r["actor_staff"]) for r in records] == [
        ("ReferralCreated", "LAPAS-CIPINANG", lapas_id),
        ("ReferralAcknowledged", "BAPAS-JAKTIM", bapas_id),
        ("ReferralAccepted", "BAPAS-JAKTIM", bapas_id),
        ("ReferralStarted", "BAPAS-JAKTIM", None),
    ]
    history = app_client.get(f"/v1/referrals/{referral_id}", headers=_bearer(lapas)).json()["history"]
    assert [h["actor_staff"] for h in history] == [lapas_id, bapas_id, bapas_id, None]


def test_disabling_a_person_refuses_their_next_request_and_ends_their_session(
    app_client: TestClient, inbox_ctx: ReferralContext
) -> None:
    staff_id, secret = _secret(inbox_ctx, "LAPAS-CIPINANG", "Siti Lapas")
    assert app_client.get("/v1/me", headers=_bearer(secret)).status_code == 200
    _sign_in(app_client, secret)
    assert app_client.get("/agency/api/me").status_code == 200
    disable_staff(inbox_ctx, staff_id=staff_id)
    assert app_client.get("/v1/me", headers=_bearer(secret)).status_code == 401
    assert app_client.get("/agency/api/me").status_code == 401
    assert app_client.get("/agency/", follow_redirects=False).headers["location"] == "/agency/login"
    page = app_client.get("/agency/login")
    nonce = LOGIN_NONCE.search(page.text)
    assert nonce is not None
    again = app_client.post("/agency/login", data={"secret": secret, "csrf": nonce.group(1)}, follow_redirects=False)
    assert again.headers["location"] == "/agency/login?failed=1"


def test_the_session_cookie_is_httponly_strict_and_secure_over_https(
    app_client: TestClient, inbox_ctx: ReferralContext
) -> None:
    _, secret = _secret(inbox_ctx, "LAPAS-CIPINANG", "Siti Lapas")
    for proto, secure in (("http", False), ("https", True)):
        app_client.cookies.clear()
        app_client.base_url = f"{proto}://testserver"  # a Secure cookie is sent back over https only
        page = app_client.get("/agency/login", headers={"X-Forwarded-Proto": proto})
        nonce = LOGIN_NONCE.search(page.text)
        assert nonce is not None
        answer = app_client.post(
            "/agency/login",
            data={"secret": secret, "csrf": nonce.group(1)},
            headers={"X-Forwarded-Proto": proto},
            follow_redirects=False,
        )
        cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("rujukan_agency="))
        flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite", "path", "max-age"} <= flags
        assert "samesite=strict" in cookie.lower()
        assert ("secure" in flags) is secure
        assert secret not in cookie


def test_changes_in_a_session_need_its_csrf_token_and_forms_need_theirs(
    app_client: TestClient, inbox_ctx: ReferralContext
) -> None:
    _, secret = _secret(inbox_ctx, "LAPAS-CIPINANG", "Siti Lapas")
    csrf = _sign_in(app_client, secret)
    wrong = [b"", b"0" * 64, csrf[:-1].encode(), b"\xe9" * 64]  # the last: not ASCII, a 403 and no 500
    for method, path, body in (
        ("POST", "/v1/referrals", referral_body()),
        ("GET", "/v1/referrals?direction=outgoing", None),  # reads too: a read can record a disclosure
        ("GET", "/agency/api/me", None),
    ):
        for token in wrong:
            refused = app_client.request(method, path, json=body, headers={b"X-CSRF-Token": token})
            assert refused.status_code == 403, (path, token, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert "CSRF" in refused.json()["detail"]
        other_site = app_client.request(
            method, path, json=body, headers={"X-CSRF-Token": csrf, "Sec-Fetch-Site": "same-site"}
        )
        assert other_site.status_code == 403  # a sibling subdomain is another origin
    with inbox_ctx.read() as session:
        assert session.exec(select(ReferralEvent)).first() is None  # nothing was made
    made = app_client.post("/v1/referrals", json=referral_body(), headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    # a page whose token went stale asks for the session's own
    assert app_client.get("/agency/api/csrf", headers={"X-CSRF-Token": ""}).json() == {"csrf": csrf}
    assert app_client.get("/agency/api/csrf", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    # the sign-out form and the sign-in form carry tokens of their own
    assert app_client.post("/agency/logout", data={"csrf": "x"}, follow_redirects=False).status_code == 403
    assert app_client.get("/agency/api/me").status_code == 200
    app_client.get("/agency/login")
    forged = app_client.post("/agency/login", data={"secret": secret, "csrf": "forged"}, follow_redirects=False)
    assert forged.headers["location"] == "/agency/login?failed=expired"
    out = app_client.post("/agency/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert app_client.get("/agency/api/me").status_code == 401
    assert app_client.post("/v1/referrals", json=referral_body(), headers={"X-CSRF-Token": csrf}).status_code == 401


def test_an_outsiders_staff_account_gets_the_same_404_in_the_inbox_as_in_the_api(
    app_client: TestClient, inbox_ctx: ReferralContext
) -> None:
    _, lapas = _secret(inbox_ctx, "LAPAS-CIPINANG", "Siti Lapas")
    _, outsider = _secret(inbox_ctx, "KEMENSOS-HANDAYANI", "Orang Luar")
    referral_id = app_client.post("/v1/referrals", json=referral_body(), headers=_bearer(lapas)).json()["id"]
    missing_id = "00000000-0000-4000-8000-000000000000"
    by_bearer = app_client.get(f"/v1/referrals/{referral_id}", headers=_bearer(outsider))
    csrf = _sign_in(app_client, outsider)
    by_session = app_client.get(f"/v1/referrals/{referral_id}")
    missing = app_client.get(f"/v1/referrals/{missing_id}")
    assert by_bearer.status_code == by_session.status_code == missing.status_code == 404
    assert by_bearer.content == by_session.content == missing.content
    acted = app_client.post(f"/v1/referrals/{referral_id}/accept", json={}, headers={"X-CSRF-Token": csrf})
    assert acted.status_code == 404
    assert (
        acted.content
        == app_client.post(f"/v1/referrals/{missing_id}/accept", json={}, headers={"X-CSRF-Token": csrf}).content
    )
    listed = app_client.get("/agency/api/inbox?direction=incoming&closed=true").json()["items"]
    assert referral_id not in [item["id"] for item in listed]
    assert SUBJECT["full_name"] not in by_session.text


def test_the_inbox_lists_open_referrals_overdue_first_with_their_due_times(
    app_client: TestClient, inbox_ctx: ReferralContext, clock: Clock
) -> None:
    _, lapas = _secret(inbox_ctx, "LAPAS-CIPINANG", "Siti Lapas")
    _, bapas = _secret(inbox_ctx, "BAPAS-JAKTIM", "Andi Bapas")
    made = {}
    for urgency in ("routine", "emergency", "urgent"):
        answer = app_client.post("/v1/referrals", json=referral_body(urgency=urgency), headers=_bearer(lapas))
        made[urgency] = answer.json()["id"]
        clock.now += dt.timedelta(minutes=1)
    done = app_client.post("/v1/referrals", json=referral_body(), headers=_bearer(lapas)).json()["id"]
    cancelled = app_client.post(
        f"/v1/referrals/{done}/cancel", json={"reason_code": "duplicate"}, headers=_bearer(lapas)
    )
    assert cancelled.status_code == 200
    clock.now += dt.timedelta(hours=2)  # the emergency's acknowledge clock (1 h) ran out, no other
    _sign_in(app_client, bapas)
    items = app_client.get("/agency/api/inbox?direction=incoming").json()["items"]
    assert [i["id"] for i in items] == [made["emergency"], made["urgent"], made["routine"]]
    assert [i["overdue"] for i in items] == [True, False, False]
    emergency = items[0]
    created = dt.datetime.fromisoformat(emergency["created_at"])
    assert dt.datetime.fromisoformat(emergency["ack_due_at"]) == created + dt.timedelta(hours=1)
    assert dt.datetime.fromisoformat(emergency["respond_due_at"]) == created + dt.timedelta(hours=4)
    with_closed = app_client.get("/agency/api/inbox?direction=incoming&closed=true").json()["items"]
    assert done in [i["id"] for i in with_closed]
    assert next(i for i in with_closed if i["id"] == done)["ack_due_at"] is None


def test_the_change_marker_moves_with_every_change_of_the_agencys_referrals(
    app_client: TestClient, inbox_ctx: ReferralContext
) -> None:
    _, lapas = _secret(inbox_ctx, "LAPAS-CIPINANG", "Siti Lapas")
    _, bapas = _secret(inbox_ctx, "BAPAS-JAKTIM", "Andi Bapas")
    referral_id = app_client.post("/v1/referrals", json=referral_body(), headers=_bearer(lapas)).json()["id"]
    _sign_in(app_client, bapas)
    seen = [app_client.get("/agency/api/changes").json()["version"]]
    assert app_client.get("/agency/api/changes").json()["version"] == seen[0]  # steady while nothing moves
    app_client.post(f"/v1/referrals/{referral_id}/note", json={"note": "catatan"}, headers=_bearer(lapas))
    seen.append(app_client.get("/agency/api/changes").json()["version"])
    other = app_client.post(
        "/v1/referrals",
        json=referral_body(to_agency="RSUD-KRAMATJATI", service_type="health_care"),
        headers=_bearer(lapas),
    )
    assert other.status_code == 201
    seen.append(app_client.get("/agency/api/changes").json()["version"])
    assert seen[0] != seen[1]
    assert seen[1] == seen[2]  # another agency's referral is not the Bapas' change


def test_names_behind_pseudonyms_are_for_the_agencys_supervisors_only(
    app_client: TestClient, inbox_ctx: ReferralContext, agencies: Agencies
) -> None:
    caseworker_id, caseworker = _secret(inbox_ctx, "BAPAS-JAKTIM", "Andi Bapas")
    _, supervisor = _secret(inbox_ctx, "BAPAS-JAKTIM", "Rina Kepala", StaffRole.SUPERVISOR)
    _, other_supervisor = _secret(inbox_ctx, "LAPAS-CIPINANG", "Kepala Lapas", StaffRole.SUPERVISOR)
    assert app_client.get("/agency/api/staff", headers=_bearer(caseworker)).status_code == 403
    assert app_client.get("/agency/api/staff", headers=agencies["BAPAS-JAKTIM"]).status_code == 403
    names = app_client.get("/agency/api/staff", headers=_bearer(supervisor)).json()
    assert names[caseworker_id] == "Andi Bapas"
    assert caseworker_id not in app_client.get("/agency/api/staff", headers=_bearer(other_supervisor)).json()
    for path in ("/agency/api/me", "/agency/api/inbox", "/agency/api/changes", "/agency/api/vocabulary"):
        refused = app_client.get(path, headers=agencies["BAPAS-JAKTIM"])
        assert refused.status_code == 403, path  # the inbox is for people, the API for systems


def test_the_pages_are_served_with_a_strict_policy_and_no_secret_or_personal_data_in_the_log(
    app_client: TestClient, inbox_ctx: ReferralContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, secret = _secret(inbox_ctx, "LAPAS-CIPINANG", "Siti Lapas")
    assert app_client.get("/agency/", follow_redirects=False).headers["location"] == "/agency/login"
    page = app_client.get("/agency/login")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script>" not in page.text  # no inline script: the policy would refuse it
    csrf = _sign_in(app_client, secret)
    made = app_client.post("/v1/referrals", json=referral_body(), headers={"X-CSRF-Token": csrf})
    app_client.get(f"/v1/referrals/{made.json()['id']}")
    app_client.post("/v1/referrals", json=referral_body(to_agency="NOPE"), headers={"X-CSRF-Token": csrf})
    for name in ("inbox.js", "inbox.css", "i18n.js", "login.js"):
        assert app_client.get(f"/agency/static/{name}").status_code == 200
    for name in ("inbox.html", "../staff.py", "nope.js"):
        assert app_client.get(f"/agency/static/{name}").status_code == 404
    for secret_text in (secret, SUBJECT["full_name"], SUBJECT["nik"], SUBJECT["phone"], csrf):
        assert secret_text not in caplog.text


def test_the_inbox_reads_past_one_page_so_an_old_overdue_referral_is_never_cut_off(
    settings: ReferralSettings, inbox_ctx: ReferralContext, clock: Clock
) -> None:
    small_pages = dataclasses.replace(inbox_ctx, max_page_size=2)
    with TestClient(create_app(settings, context=small_pages), raise_server_exceptions=False) as client:
        _, lapas = _secret(small_pages, "LAPAS-CIPINANG", "Siti Lapas")
        _, bapas = _secret(small_pages, "BAPAS-JAKTIM", "Andi Bapas")
        made = []
        for urgency in ("emergency", "routine", "routine", "routine", "routine"):  # the oldest is overdue
            made.append(
                client.post("/v1/referrals", json=referral_body(urgency=urgency), headers=_bearer(lapas)).json()["id"]
            )
            clock.now += dt.timedelta(minutes=1)
        clock.now += dt.timedelta(hours=2)
        listed = client.get("/agency/api/inbox", headers=_bearer(bapas)).json()
    small_pages.close()
    assert listed["items"][0]["id"] == made[0]
    assert listed["items"][0]["overdue"] is True
    assert sorted(i["id"] for i in listed["items"]) == sorted(made)  # three pages of two, all of them
    assert listed["more"] is False


def test_the_inbox_shows_the_due_times_the_events_carry_a_planned_referral_from_its_sending(
    app_client: TestClient, inbox_ctx: ReferralContext, clock: Clock
) -> None:
    """A planned referral's clocks start when it is sent (here early, by hand), not at its planned time;
    the summary and the inbox show exactly the due times of its ReferralSent event."""
    _, lapas = _secret(inbox_ctx, "LAPAS-CIPINANG", "Siti Lapas")
    _, bapas = _secret(inbox_ctx, "BAPAS-JAKTIM", "Andi Bapas")
    planned_for = (clock.now + dt.timedelta(days=10)).isoformat()
    made = app_client.post(
        "/v1/referrals", json=referral_body(urgency="emergency", planned_for=planned_for), headers=_bearer(lapas)
    )
    assert made.status_code == 201, made.text
    referral_id = made.json()["id"]
    assert (made.json()["ack_due_at"], made.json()["status"]) == (None, "planned")
    clock.now += dt.timedelta(hours=3)
    assert app_client.post(f"/v1/referrals/{referral_id}/send", json={}, headers=_bearer(lapas)).status_code == 200
    sent = next(r for r in _events(inbox_ctx, referral_id) if r["event_type"] == "ReferralSent")
    assert sent["ack_due_at"] == clock.now + dt.timedelta(hours=1)
    clock.now += dt.timedelta(minutes=30)
    _sign_in(app_client, bapas)
    item = app_client.get("/agency/api/inbox").json()["items"][0]
    assert dt.datetime.fromisoformat(item["ack_due_at"]) == sent["ack_due_at"]
    assert dt.datetime.fromisoformat(item["respond_due_at"]) == sent["respond_due_at"]
    assert item["overdue"] is False  # due 1 h after sending, not after its planned day nor its creation
    listed = app_client.get("/v1/referrals?direction=incoming", headers=_bearer(bapas)).json()["items"][0]
    assert dt.datetime.fromisoformat(listed["ack_due_at"]) == sent["ack_due_at"]


def test_signing_in_again_ends_the_session_the_browser_had(app_client: TestClient, inbox_ctx: ReferralContext) -> None:
    _, secret = _secret(inbox_ctx, "LAPAS-CIPINANG", "Siti Lapas")
    _sign_in(app_client, secret)
    first = app_client.cookies["rujukan_agency"]
    _sign_in(app_client, secret)
    assert app_client.cookies["rujukan_agency"] != first
    with pytest.raises(Unauthenticated):
        session_staff(inbox_ctx, token=first)


def test_every_kind_of_change_by_a_person_records_them_and_each_needs_the_token_in_a_session(
    app_client: TestClient, inbox_ctx: ReferralContext
) -> None:
    """Beyond the lifecycle: a directory entry (its own event stream), a FHIR Task change and a subject's
    record (a read that records a disclosure) — each refused in a session without the CSRF token, each
    recording the person when made."""
    staff_id, secret = _secret(inbox_ctx, "BAPAS-JAKTIM", "Andi Bapas")
    lapas_id, lapas = _secret(inbox_ctx, "LAPAS-CIPINANG", "Siti Lapas")
    made = app_client.post("/v1/referrals", json=referral_body(), headers=_bearer(lapas)).json()
    csrf = _sign_in(app_client, secret)
    app_client.headers.pop("X-CSRF-Token")
    entry = directory_entry()
    directory = "/v1/directory/services/supervision"
    patch = [{"op": "replace", "path": "/status", "value": "accepted"}]
    fhir_headers = {"Content-Type": "application/json-patch+json"}
    record = f"/v1/subjects/{made['subject_id']}/record"
    assert app_client.put(directory, json=entry).status_code == 403
    assert app_client.patch(f"/fhir/r4/Task/{made['id']}", json=patch, headers=fhir_headers).status_code == 403
    assert app_client.get(record).status_code == 403
    with inbox_ctx.read() as session:
        assert session.exec(select(DirectoryEvent)).first() is None
    assert [r["event_type"] for r in _events(inbox_ctx, made["id"])] == ["ReferralCreated"]
    app_client.headers["X-CSRF-Token"] = csrf
    assert app_client.put(directory, json=entry).status_code == 200
    patched = app_client.patch(f"/fhir/r4/Task/{made['id']}", json=patch, headers=fhir_headers)
    assert patched.status_code == 200, patched.text
    with inbox_ctx.read() as session:
        payload = session.exec(select(DirectoryEvent.payload)).one()
    assert inbox_ctx.codec.decode(payload).record["actor_staff"] == staff_id
    assert [(r["event_type"], r["actor_staff"]) for r in _events(inbox_ctx, made["id"])] == [
        ("ReferralCreated", lapas_id),
        ("ReferralAccepted", staff_id),
    ]
