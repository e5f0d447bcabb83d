"""The data subject's rights under UU PDP, exercised through the agency that controls the subject.

Each right is a use case on a subject named by the caller's alias (see ``identity``), and an event on
every referral of the subject concerned, so the log shows it, the tracker and the notifier follow it and
an audit replays it:

- access (``SubjectAccessed``): any party gets everything it holds about the subject: the identity and
  every referral of the subject it is party to, with its history and notes;
- rectification (``SubjectCorrected``, controller only): identifying fields are corrected, sealed again on
  every referral and in the event; a new NIK moves the NIK index, unless the controller already has
  another subject with it (two people are never merged);
- consent withdrawal (``ConsentWithdrawn``, controller only): every open referral of the subject that
  rests on consent records it and is then cancelled by the controller (reason ``subject_declined``),
  which the other party hears as a cancellation;
- restriction (``SubjectRestricted`` / ``SubjectRestrictionLifted``, controller only): until lifted, no
  other agency may view the subject's referrals or act on them (409).
Retention (automatic erasure after the retention period) is in ``retention``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, select

from rujukan.core.lifecycle import TERMINAL, Action, Role, Status, decide
from rujukan.core.sealing import DataKey
from rujukan.core.vocabulary import ReasonCode
from rujukan.referral.commands import Correction
from rujukan.referral.context import ReferralContext
from rujukan.referral.domain import age_band
from rujukan.referral.errors import Conflict, NotController, SubjectErased
from rujukan.referral.eventstore import append_event
from rujukan.referral.identity import check_not_restricted, resolve_alias
from rujukan.referral.models import Referral, Subject
from rujukan.referral.parties import party_role
from rujukan.referral.queries import subject_key_or_none, view_in_session
from rujukan.referral.views import ReferralView


class SubjectRecord(BaseModel):
    subject_id: str
    controlled_by_you: bool
    restricted: bool
    erased: bool
    referrals: list[ReferralView]


class RightExercised(BaseModel):
    subject_id: str
    referrals: int  # how many referrals recorded it
    cancelled: int = 0  # consent withdrawal: open referrals cancelled


def subject_record(ctx: ReferralContext, *, agency: str, subject_id: str) -> SubjectRecord:
    """Access: everything ``agency`` holds about the subject, recorded as SubjectAccessed."""
    with ctx.transaction() as session:
        subject = resolve_alias(ctx, session, agency=agency, alias_id=subject_id)
        check_not_restricted(subject, agency)
        referrals = _referrals(session, subject, party=agency)
        now = ctx.clock()
        for referral in referrals:
            _record(ctx, session, referral, "SubjectAccessed", actor=agency, now=now)
        views = [view_in_session(ctx, session, r, _role(r, agency)) for r in referrals]
        return SubjectRecord(
            subject_id=subject_id,
            controlled_by_you=subject.controller == agency,
            restricted=subject.restricted_at is not None,
            erased=subject.erased_at is not None,
            referrals=views,
        )


def correct_subject(ctx: ReferralContext, *, agency: str, subject_id: str, correction: Correction) -> RightExercised:
    with ctx.transaction() as session:
        subject, key = _controlled(ctx, session, agency=agency, alias_id=subject_id)
        referrals = _referrals(session, subject)
        identity = _identity(key, referrals[0]) if referrals else {}
        identity.update(correction.fields())
        new_nik = correction.nik
        if new_nik is not None:
            _move_nik_index(ctx, session, subject, nik=new_nik)
        birth = identity.get("birth_date")
        band = age_band(dt.date.fromisoformat(birth), ctx.clock().date()).value if birth else None
        now = ctx.clock()
        clear = json.dumps(identity).encode()
        for referral in referrals:
            sealed = key.seal(clear, subject_id=subject.id, referral_id=referral.id, field="subject")
            referral.sealed_subject = sealed
            referral.subject_age_band = band or referral.subject_age_band
            fields = {"subject_id": subject.id, "sealed_subject": sealed, "subject_age_band": referral.subject_age_band}
            _append(ctx, session, referral, "SubjectCorrected", actor=agency, now=now, fields=fields)
        return RightExercised(subject_id=subject_id, referrals=len(referrals))


def withdraw_consent(ctx: ReferralContext, *, agency: str, subject_id: str) -> RightExercised:
    with ctx.transaction() as session:
        subject, _ = _controlled(ctx, session, agency=agency, alias_id=subject_id)
        concerned = [
            r for r in _referrals(session, subject) if r.legal_basis == "consent" and Status(r.status) not in TERMINAL
        ]
        now = ctx.clock()
        for referral in concerned:
            _record(ctx, session, referral, "ConsentWithdrawn", actor=agency, now=now)
            transition = decide(
                Action.CANCEL, status=Status(referral.status), role=Role.REQUESTER, given=frozenset({"reason_code"})
            )
            referral.status = transition.target.value
            fields = {"reason_code": ReasonCode.SUBJECT_DECLINED.value, "sealed_note": None}
            _append(ctx, session, referral, transition.event_type, actor=agency, now=now, fields=fields)
        return RightExercised(subject_id=subject_id, referrals=len(concerned), cancelled=len(concerned))


def restrict(ctx: ReferralContext, *, agency: str, subject_id: str, active: bool) -> RightExercised:
    with ctx.transaction() as session:
        subject, _ = _controlled(ctx, session, agency=agency, alias_id=subject_id)
        if (subject.restricted_at is not None) == active:
            return RightExercised(subject_id=subject_id, referrals=0)
        now = ctx.clock()
        subject.restricted_at = now if active else None
        session.add(subject)
        referrals = _referrals(session, subject)
        event_type = "SubjectRestricted" if active else "SubjectRestrictionLifted"
        for referral in referrals:
            _record(ctx, session, referral, event_type, actor=agency, now=now)
        return RightExercised(subject_id=subject_id, referrals=len(referrals))


# -- helpers ---------------------------------------------------------------------------------------------
def _controlled(ctx: ReferralContext, session: Session, *, agency: str, alias_id: str) -> tuple[Subject, DataKey]:
    subject = resolve_alias(ctx, session, agency=agency, alias_id=alias_id)
    if subject.controller != agency:
        raise NotController("only the agency that made this subject's referrals can do this; ask it to")
    session.refresh(subject, with_for_update=True)
    key = subject_key_or_none(ctx, session, subject.id)
    if key is None:
        raise SubjectErased("the subject was erased")
    return subject, key


def _referrals(session: Session, subject: Subject, *, party: str | None = None) -> list[Referral]:
    query = select(Referral).where(Referral.subject_id == subject.id)
    if party is not None:
        query = query.where((Referral.from_agency == party) | (Referral.to_agency == party))
    return list(session.exec(query.order_by(col(Referral.created_at), col(Referral.id)).with_for_update()).all())


def _role(referral: Referral, agency: str) -> Role:
    role = party_role(referral, agency)
    assert role is not None  # _referrals(party=agency) returns the agency's referrals only
    return role


def _identity(key: DataKey, referral: Referral) -> dict[str, Any]:
    opened = key.open(referral.sealed_subject, subject_id=referral.subject_id, referral_id=referral.id, field="subject")
    found: dict[str, Any] = json.loads(opened)
    return found


def _move_nik_index(ctx: ReferralContext, session: Session, subject: Subject, *, nik: str) -> None:
    index = ctx.master_key.nik_index(nik, controller=subject.controller)
    other = session.exec(select(Subject.id).where(Subject.nik_index == index, Subject.id != subject.id)).first()
    if other is not None:
        raise Conflict("another subject of yours has this NIK; correct or erase that one (people are never merged)")
    subject.nik_index, subject.person_index = index, ctx.master_key.person_index(nik)
    session.add(subject)


def _record(
    ctx: ReferralContext, session: Session, referral: Referral, event_type: str, *, actor: str, now: dt.datetime
) -> None:
    """An event that names only the subject: the right was exercised on this referral."""
    _append(ctx, session, referral, event_type, actor=actor, now=now, fields={"subject_id": referral.subject_id})


def _append(
    ctx: ReferralContext,
    session: Session,
    referral: Referral,
    event_type: str,
    *,
    actor: str,
    now: dt.datetime,
    fields: dict[str, Any],
) -> None:
    referral.updated_at = now
    append_event(session, ctx, referral, event_type, actor=actor, occurred_at=now, fields=fields)
