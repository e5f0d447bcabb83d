"""Use cases on subjects: erasure (crypto-shredding) and legal holds.

An agency erases the subject it controls (see ``identity``), named by its own alias: the subject's wrapped
data key and NIK indexes are destroyed and a SubjectErased event is appended to every referral of the
subject, in one transaction; the idempotency records of its referrals (keyed hashes of bodies that held
the person's data) are deleted. Every sealed field of that subject, in the database and in every copy of
the event log, is unreadable from then on, and the database is made to forget the destroyed key in its
files too (``core.db.forget``: SQLite's write-ahead log checkpointed and truncated with secure_delete,
PostgreSQL's tables vacuumed). Other agencies' subjects of the same person stay as they are; a
party that does not control the subject gets 403, anyone else 404, and no answer tells another agency's
holds or counts. Planned referrals of the subject (pathway steps not sent yet) are cancelled with it, by
their requester. An operator erases a subject, or every subject of one person, system-wide
(``rujukan subject erase``). A legal hold refuses erasure.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel
from sqlalchemy import delete
from sqlmodel import Session, col, select

from rujukan.core.db import forget
from rujukan.core.lifecycle import Action, Role, Status, decide
from rujukan.core.vocabulary import ReasonCode
from rujukan.referral.context import ReferralContext
from rujukan.referral.errors import LegalHold, NotController, NotFound
from rujukan.referral.eventstore import append_event
from rujukan.referral.identity import resolve_alias
from rujukan.referral.models import IdempotencyKey, Referral, Subject

FORGETTING = ("subjects", "idempotency_keys")
OPERATOR = "RUJUKAN-OPERATOR"  # the tables an erasure overwrites or deletes from


class Erasure(BaseModel):
    subject_id: str
    erased_at: dt.datetime
    referrals: int  # the caller's own referrals of the subject


def erase_subject(ctx: ReferralContext, *, agency: str, subject_id: str) -> Erasure:
    """``agency`` erases the subject it knows as ``subject_id`` (its alias), which it must control."""
    with ctx.transaction() as session:
        subject = resolve_alias(ctx, session, agency=agency, alias_id=subject_id)
        if subject.controller != agency:
            raise NotController("only the agency that made this subject's referrals can erase it; ask it to")
        session.refresh(subject, with_for_update=True)
        erased_at = erase(ctx, session, subject, actor=agency, reason="request")
        own = session.exec(select(Referral.id).where(Referral.subject_id == subject.id, Referral.from_agency == agency))
        erasure = Erasure(subject_id=subject_id, erased_at=erased_at, referrals=len(own.all()))
    forget(ctx.engine, *FORGETTING)
    return erasure


def erase_everywhere(ctx: ReferralContext, *, subject_id: str, person: bool) -> list[str]:
    """Operators: erase the subject with this (internal) id and, with ``person``, every subject linked to
    the same person; the ids erased. A legal hold on any of them refuses the whole erasure."""
    with ctx.transaction() as session:
        subject = session.get(Subject, subject_id, with_for_update=True)
        if subject is None:
            raise NotFound("subject not found")
        subjects = [subject]
        if person and subject.person_index is not None:
            linked = select(Subject).where(Subject.person_index == subject.person_index, Subject.id != subject.id)
            subjects += list(session.exec(linked.with_for_update()).all())
        if any(s.legal_hold and s.erased_at is None for s in subjects):
            raise LegalHold("a legal hold blocks erasure of one of these subjects")
        for found in subjects:
            erase(ctx, session, found, actor=OPERATOR, reason="operator")
        erased = [s.id for s in subjects]
    forget(ctx.engine, *FORGETTING)
    return erased


def erase(ctx: ReferralContext, session: Session, subject: Subject, *, actor: str, reason: str) -> dt.datetime:
    """Destroy the subject's key and indexes, and record it on every referral (``reason``: request,
    operator or retention); already erased: nothing more."""
    if subject.erased_at is not None:
        return subject.erased_at
    if subject.legal_hold:
        raise LegalHold("a legal hold blocks erasure of this subject")
    now = ctx.clock()
    subject.wrapped_key, subject.nik_index, subject.person_index, subject.erased_at = None, None, None, now
    session.add(subject)
    referrals = session.exec(select(Referral).where(Referral.subject_id == subject.id).with_for_update()).all()
    ids = [r.id for r in referrals]
    session.execute(delete(IdempotencyKey).where(col(IdempotencyKey.referral_id).in_(ids)))  # keyed hashes of the body
    for referral in referrals:
        referral.updated_at = now
        append_event(
            session,
            ctx,
            referral,
            "SubjectErased",
            actor=actor,
            occurred_at=now,
            fields={"subject_id": subject.id, "erasure_reason": reason},
        )
        if referral.status == Status.PLANNED.value:  # a step not sent yet is not sent for a person erased
            _cancel_planned(ctx, session, referral, now=now)
    return now


def _cancel_planned(ctx: ReferralContext, session: Session, referral: Referral, *, now: dt.datetime) -> None:
    """Cancel a planned referral of an erased subject, as its requester (whose plan it was)."""
    transition = decide(Action.CANCEL, status=Status.PLANNED, role=Role.REQUESTER, given=frozenset({"reason_code"}))
    referral.status = transition.target.value
    fields = {"reason_code": ReasonCode.OTHER.value, "sealed_note": None}
    append_event(
        session, ctx, referral, transition.event_type, actor=referral.from_agency, occurred_at=now, fields=fields
    )


def set_legal_hold(ctx: ReferralContext, *, subject_id: str, active: bool) -> None:
    """Operators (CLI) place or lift a legal hold on a subject (its internal id, as the tracker shows it)."""
    with ctx.transaction() as session:
        subject = session.get(Subject, subject_id)
        if subject is None:
            raise NotFound("subject not found")
        subject.legal_hold = active
        session.add(subject)
