"""The agency inbox at ``/agency/``: pages for the people of agencies without a system of their own.

A person signs in with their staff secret (``rujukan staff add``) and gets a session: an HttpOnly,
SameSite=Strict cookie (``Secure`` over https, directly or behind a proxy saying so) that holds a random
token, never the secret. The pages are static files plus a little JavaScript that calls the same ``/v1``
API as agency systems, with the session cookie and the session's CSRF token in a header: the inbox can
do nothing the API would refuse the agency, and an outsider gets the same 404. The sign-in form carries a
token of its own against login CSRF (double submit: a cookie and a field). The JSON under
``/agency/api/`` is what only the pages need: who is signed in, the open referrals with their SLA due
times (overdue first), a cheap change marker to poll for live updates, the code lists, and (supervisors)
the names behind the agency's staff pseudonyms.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import func, or_
from sqlmodel import col, select

from rujukan.core.lifecycle import RULES, TERMINAL, Status
from rujukan.core.vocabulary import (
    AgencyKind,
    ConsentGiver,
    LegalBasis,
    Outcome,
    ReasonCode,
    ServiceType,
    Sex,
    SubjectCategory,
    Urgency,
)
from rujukan.referral.api.auth import COOKIE, MAX_TOKEN_LENGTH, Agency, Context, Staff, same_origin
from rujukan.referral.create import due_times
from rujukan.referral.errors import Forbidden, Unauthenticated
from rujukan.referral.models import Referral
from rujukan.referral.queries import Direction, list_referrals
from rujukan.referral.registry import get_agency, list_agencies
from rujukan.referral.staff import (
    SESSION_HOURS,
    StaffRole,
    StaffView,
    authenticate_staff,
    csrf_matches,
    csrf_token,
    end_session,
    session_staff,
    staff_names,
    start_session,
)
from rujukan.referral.views import ReferralSummary

STATIC = Path(__file__).resolve().parent.parent / "inbox"
LOGIN_COOKIE = "rujukan_agency_login"
INBOX_LIMIT = 1000  # referrals on one inbox list (a page of cards; beyond it the list says there are more)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
router = APIRouter(prefix="/agency", include_in_schema=False)


@router.get("")
def root() -> Response:
    return RedirectResponse("/agency/", status_code=308)


@router.get("/")
def inbox_page(request: Request, ctx: Context) -> Response:
    token = request.cookies.get(COOKIE)
    try:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated("no session")
        session_staff(ctx, token=token)
    except Unauthenticated:
        return RedirectResponse("/agency/login", status_code=303)
    return _page("inbox.html", csrf=csrf_token(token))


@router.get("/login")
def login_page(request: Request) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = _page("login.html", csrf=nonce)
    _set_cookie(response, request, LOGIN_COOKIE, nonce, max_age=3600, path="/agency/login")
    return response


@router.post("/login")
def login(
    request: Request,
    ctx: Context,
    secret: Annotated[str, Form(max_length=100)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    fresh = nonce and secrets.compare_digest(nonce.encode("utf-8", "replace"), csrf.encode("utf-8", "replace"))
    if not fresh or not same_origin(request):
        return RedirectResponse("/agency/login?failed=expired", status_code=303)
    try:
        staff = authenticate_staff(ctx, secret=secret.strip())
    except Unauthenticated:
        staff = None
    if staff is None:
        return RedirectResponse("/agency/login?failed=1", status_code=303)
    earlier = request.cookies.get(COOKIE)
    if earlier and len(earlier) <= MAX_TOKEN_LENGTH:
        end_session(ctx, token=earlier)  # signing in again ends the session this browser had
    response = RedirectResponse("/agency/", status_code=303)
    _set_cookie(response, request, COOKIE, start_session(ctx, staff), max_age=SESSION_HOURS * 3600, path="/")
    response.delete_cookie(LOGIN_COOKIE, path="/agency/login")
    return response


@router.post("/logout")
def logout(request: Request, ctx: Context, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    token = request.cookies.get(COOKIE)
    if token and len(token) <= MAX_TOKEN_LENGTH and _live(ctx, token):  # a live session ends by its page only
        if not csrf_matches(token, csrf) or not same_origin(request):
            raise Forbidden("signing out needs the page's CSRF token")
        end_session(ctx, token=token)
    response = RedirectResponse("/agency/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", secure=_over_https(request), httponly=True, samesite="strict")
    return response


@router.get("/static/{name}")
def static(name: str) -> Response:
    """Looked up among the directory's files by name, never joined into a path (see the dashboard's)."""
    path = next((f for f in STATIC.iterdir() if f.name == name and f.is_file() and f.suffix != ".html"), None)
    if path is None:
        return Response(status_code=404)
    media = {".js": "text/javascript", ".css": "text/css"}.get(path.suffix, "application/octet-stream")
    return Response(path.read_bytes(), media_type=media, headers={"Cache-Control": "no-cache", **_NOSNIFF})


_NOSNIFF = {"X-Content-Type-Options": "nosniff"}


# -- JSON for the pages ------------------------------------------------------------------------------------
class Me(BaseModel):
    staff_id: str
    name: str
    role: StaffRole
    agency_code: str
    agency_name: str


@router.get("/api/csrf")
def csrf_of_session(request: Request, ctx: Context) -> Response:
    """The CSRF token of this browser's live session, for a page whose token went stale (the person signed
    in again in another tab). Readable by the inbox's own pages only: no other origin can read an answer
    (no CORS), and a request from another site, a sibling subdomain included, is refused."""
    token = request.cookies.get(COOKIE)
    if not token or len(token) > MAX_TOKEN_LENGTH or not _live(ctx, token):
        raise Unauthenticated("no session")
    if not same_origin(request):
        raise Forbidden("an inbox session is used from the inbox's own pages only")
    return JSONResponse({"csrf": csrf_token(token)}, headers={"Cache-Control": "no-store"})


@router.get("/api/me")
def me(agency: Agency, staff: Staff, ctx: Context) -> Me:
    person = _person(staff)
    return Me(
        staff_id=person.id,
        name=person.name,
        role=person.role,
        agency_code=agency,
        agency_name=get_agency(ctx, agency).name,
    )


@router.get("/api/inbox")
def inbox(
    agency: Agency,
    staff: Staff,
    ctx: Context,
    direction: Direction = Direction.INCOMING,
    closed: Annotated[bool, Query(description="Ended referrals too (the newest first)")] = False,
) -> dict[str, Any]:
    """The open referrals of one direction, overdue first, then by the nearest due time, then newest: all of
    them up to ``INBOX_LIMIT`` (an old one is the likeliest to be overdue, so the list is not cut to the
    newest page); with ``closed``, the newest ``INBOX_LIMIT`` of all."""
    _person(staff)
    statuses = None if closed else [s for s in Status if s not in TERMINAL]
    summaries: list[ReferralSummary] = []
    cursor: str | None = None
    while len(summaries) < INBOX_LIMIT:
        page = list_referrals(
            ctx, agency=agency, direction=direction, statuses=statuses, page_size=ctx.max_page_size, cursor=cursor
        )
        summaries.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    now = ctx.clock()
    items: list[dict[str, Any]] = []
    for summary in summaries[:INBOX_LIMIT]:
        due = _due(ctx, summary)
        overdue = any(d is not None and d <= now for d in due.values())
        items.append({**summary.model_dump(mode="json"), **due, "overdue": overdue})
    items.sort(key=lambda i: (not i["overdue"], _next_due(i) or "9999", _newest_first(i["created_at"])))
    for item in items:
        for name in ("ack_due_at", "respond_due_at"):
            item[name] = item[name].isoformat() if item[name] else None
    more = cursor is not None or len(summaries) > INBOX_LIMIT
    return {"items": items, "more": more, "now": now.isoformat()}


@router.get("/api/changes")
def changes(agency: Agency, staff: Staff, ctx: Context) -> dict[str, str]:
    """A marker that changes whenever a referral of the agency changes: the pages poll it (a few bytes on a
    slow line) and fetch again only then."""
    _person(staff)
    query = select(func.count(), func.max(Referral.updated_at), func.sum(Referral.last_seq)).where(
        or_(col(Referral.from_agency) == agency, col(Referral.to_agency) == agency)
    )
    with ctx.read() as session:
        count, latest, seqs = session.execute(query).one()
    marker = f"{count}:{latest.isoformat() if latest else ''}:{seqs or 0}"
    return {"version": hashlib.sha256(marker.encode()).hexdigest()[:16]}


@router.get("/api/vocabulary")
def vocabulary(agency: Agency, staff: Staff, ctx: Context) -> dict[str, Any]:
    """The code lists of the forms, and the other agencies (code and name) to refer to."""
    _person(staff)
    lists: dict[str, Any] = {
        "service_type": ServiceType,
        "urgency": Urgency,
        "reason_code": ReasonCode,
        "outcome": Outcome,
        "legal_basis": LegalBasis,
        "consent_given_by": ConsentGiver,
        "category": SubjectCategory,
        "sex": Sex,
        "agency_kind": AgencyKind,
    }
    codes: dict[str, Any] = {name: [member.value for member in enum] for name, enum in lists.items()}
    others = [{"code": a.code, "name": a.name} for a in list_agencies(ctx) if a.code != agency]
    requires = {action.value: list(rule.requires) for action, rule in RULES.items()}
    return {**codes, "agencies": others, "action_requires": requires}


@router.get("/api/staff")
def staff_of_agency(agency: Agency, staff: Staff, ctx: Context) -> dict[str, str]:
    """The names behind the agency's own staff pseudonyms: for its supervisors only."""
    if _person(staff).role is not StaffRole.SUPERVISOR:
        raise Forbidden("only a supervisor of the agency sees who its staff are")
    return staff_names(ctx, agency_code=agency)


# -- helpers -------------------------------------------------------------------------------------------------
def _live(ctx: Any, token: str) -> bool:
    try:
        session_staff(ctx, token=token)
    except Unauthenticated:
        return False
    return True


def _person(staff: StaffView | None) -> StaffView:
    if staff is None:
        raise Forbidden("the inbox is for a person's staff account, not an agency system's credential")
    return staff


def _due(ctx: Any, summary: ReferralSummary) -> dict[str, dt.datetime | None]:
    """The SLA due times a referral waits on now, as its events carry them: both while requested, the answer
    while received, none after. A referral made before the row kept them (and never planned) has them
    worked out as its ReferralCreated event did: from its creation, by the policy in force."""
    if summary.status not in (Status.REQUESTED.value, Status.RECEIVED.value):
        return {"ack_due_at": None, "respond_due_at": None}
    ack, respond = summary.ack_due_at, summary.respond_due_at
    if respond is None and summary.planned_for is None:
        ack, respond = due_times(summary.model_dump(), sla=ctx.sla, at=summary.created_at)
    return {"ack_due_at": ack if summary.status == Status.REQUESTED.value else None, "respond_due_at": respond}


def _next_due(item: dict[str, Any]) -> str | None:
    dues = [d.isoformat() for d in (item["ack_due_at"], item["respond_due_at"]) if d]
    return min(dues) if dues else None


def _newest_first(created_at: str) -> float:
    return -dt.datetime.fromisoformat(created_at).timestamp()


def _page(name: str, *, csrf: str) -> Response:
    text = (STATIC / name).read_text().replace("{{csrf}}", html.escape(csrf, quote=True))
    return Response(text, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


def _set_cookie(response: Response, request: Request, name: str, value: str, *, max_age: int, path: str) -> None:
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="strict", secure=_over_https(request), path=path
    )


def _over_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"
