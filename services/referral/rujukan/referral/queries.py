"""Use cases that only read: one referral (parties only, decrypted) and lists (summaries, keyset pages)."""

from __future__ import annotations

import base64
import datetime as dt
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlmodel import Session, and_, col, or_, select
from sqlmodel.sql.expression import SelectOfScalar

from rujukan.core.lifecycle import Role, Status
from rujukan.core.sealing import DataKey, SealingError
from rujukan.referral.context import ReferralContext
from rujukan.referral.errors import InvalidRequest, NotFound, Restricted
from rujukan.referral.identity import alias, check_not_restricted, resolve_alias
from rujukan.referral.models import Referral, ReferralEvent, Subject
from rujukan.referral.parties import load_as_party, party_role
from rujukan.referral.views import ReferralSummary, ReferralView, full_view, summary


class Direction(StrEnum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"


@dataclass(frozen=True, slots=True)
class Page:
    items: list[ReferralSummary]
    next_cursor: str | None


def get_referral(ctx: ReferralContext, *, agency: str, referral_id: str) -> ReferralView:
    with ctx.read() as session:
        referral, role = load_as_party(session, referral_id=referral_id, agency=agency)
        check_not_restricted(session.get(Subject, referral.subject_id), agency)
        return view_in_session(ctx, session, referral, role)


def latest_view_of_subject(ctx: ReferralContext, *, agency: str, alias_id: str) -> ReferralView:
    """The caller's latest referral of the subject it knows as ``alias_id`` (the subject as that referral
    holds them); NotFound for an alias the caller does not know, as for one that does not exist."""
    with ctx.read() as session:
        subject = resolve_alias(ctx, session, agency=agency, alias_id=alias_id)
        check_not_restricted(subject, agency)
        query = (
            select(Referral)
            .where(Referral.subject_id == subject.id, or_(Referral.from_agency == agency, Referral.to_agency == agency))
            .order_by(col(Referral.updated_at).desc(), col(Referral.id).desc())
        )
        referral = session.exec(query).first()
        role = party_role(referral, agency) if referral is not None else None
        if referral is None or role is None:
            raise NotFound("subject not found")
        return view_in_session(ctx, session, referral, role)


def view_in_session(ctx: ReferralContext, session: Session, referral: Referral, role: Role) -> ReferralView:
    events = session.exec(
        select(ReferralEvent).where(ReferralEvent.referral_id == referral.id).order_by(col(ReferralEvent.seq))
    ).all()
    viewer = referral.from_agency if role is Role.REQUESTER else referral.to_agency
    return full_view(
        referral,
        list(events),
        key=subject_key_or_none(ctx, session, referral.subject_id),
        role=role,
        codec=ctx.codec,
        subject_alias=alias(ctx, viewer=viewer, subject_id=referral.subject_id),
        viewer=viewer,
    )


def subject_key_or_none(ctx: ReferralContext, session: Session, subject_id: str) -> DataKey | None:
    """The subject's data key, or None once it was erased (crypto-shredded) or does not unwrap."""
    subject = session.get(Subject, subject_id)
    if subject is None or subject.wrapped_key is None:
        return None
    try:
        return ctx.master_key.unwrap(subject.wrapped_key, subject.id)
    except SealingError:
        return None


def list_referrals(
    ctx: ReferralContext,
    *,
    agency: str,
    direction: Direction,
    statuses: list[Status] | None = None,
    page_size: int = 50,
    cursor: str | None = None,
    pathway_id: str | None = None,
) -> Page:
    """Newest first. ``cursor`` is the opaque ``next_cursor`` of the previous page. A page larger than
    the service allows (``max_page_size``) is cut to that size: the caller pages on with next_cursor."""
    if page_size < 1:
        raise InvalidRequest("page_size must be at least 1")
    page_size = min(page_size, ctx.max_page_size)
    column = Referral.to_agency if direction is Direction.INCOMING else Referral.from_agency
    query = select(Referral).where(column == agency)
    if statuses:
        query = query.where(col(Referral.status).in_([s.value for s in statuses]))
    if pathway_id is not None:
        query = query.where(col(Referral.pathway_id) == pathway_id)
    with ctx.read() as session:
        rows = list(session.exec(_one_page(query, cursor, page_size)).all())
    items = [
        summary(row, subject_alias=alias(ctx, viewer=agency, subject_id=row.subject_id), viewer=agency)
        for row in rows[:page_size]
    ]
    return Page(items=items, next_cursor=_next_cursor(rows, page_size))


def _one_page(query: SelectOfScalar[Referral], cursor: str | None, page_size: int) -> SelectOfScalar[Referral]:
    """``query`` newest first, from after ``cursor``, one row more than a page (to know whether more follow)."""
    if cursor is not None:
        created_at, last_id = _decode_cursor(cursor)
        query = query.where(
            or_(
                Referral.created_at < created_at,
                and_(Referral.created_at == created_at, Referral.id < last_id),
            )
        )
    return query.order_by(col(Referral.created_at).desc(), col(Referral.id).desc()).limit(page_size + 1)


def _next_cursor(rows: list[Referral], page_size: int) -> str | None:
    """The cursor of the page after ``rows`` (a page and one more, from ``_one_page``); None on the last."""
    return _encode_cursor(rows[page_size - 1]) if len(rows) > page_size else None


@dataclass(frozen=True, slots=True)
class ViewPage:
    items: list[ReferralView]
    next_cursor: str | None
    withheld: int  # referrals of restricted subjects, which only their controller views


# A bound on Referral.updated_at: (operator, instant); the operators of FHIR's date search prefixes
UpdatedBound = tuple[str, dt.datetime]
_COMPARE = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}


def search_views(
    ctx: ReferralContext,
    *,
    agency: str,
    owner: str | None = None,
    requester: str | None = None,
    statuses: list[Status] | None = None,
    updated: Sequence[UpdatedBound] = (),
    page_size: int = 50,
    cursor: str | None = None,
) -> ViewPage:
    """The full views of the referrals ``agency`` is party to (either side), newest first, narrowed by
    receiver (``owner``), sender (``requester``), statuses and bounds on the last change."""
    page_size = max(1, min(page_size, ctx.max_page_size))
    query = select(Referral).where(or_(Referral.from_agency == agency, Referral.to_agency == agency))
    if owner is not None:
        query = query.where(Referral.to_agency == owner)
    if requester is not None:
        query = query.where(Referral.from_agency == requester)
    if statuses:
        query = query.where(col(Referral.status).in_([s.value for s in statuses]))
    for prefix, instant in updated:
        query = query.where(_COMPARE[prefix](col(Referral.updated_at), instant))
    items, withheld = [], 0
    with ctx.read() as session:
        rows = list(session.exec(_one_page(query, cursor, page_size)).all())
        for row in rows[:page_size]:
            role = party_role(row, agency)
            if role is None:  # not so: the query keeps the caller's referrals only
                continue
            try:
                check_not_restricted(session.get(Subject, row.subject_id), agency)
            except Restricted:
                withheld += 1
                continue
            items.append(view_in_session(ctx, session, row, role))
    return ViewPage(items=items, next_cursor=_next_cursor(rows, page_size), withheld=withheld)


def _encode_cursor(row: Referral) -> str:
    return base64.urlsafe_b64encode(f"{row.created_at.isoformat()}|{row.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        created_at, last_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        instant = dt.datetime.fromisoformat(created_at)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest("cursor is not valid") from exc
    if instant.tzinfo is None:  # every cursor made here names its instant in UTC; a made-up one may not
        raise InvalidRequest("cursor is not valid")
    return instant, last_id
