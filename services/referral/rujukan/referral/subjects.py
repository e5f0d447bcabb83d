"""Use cases on subjects: erasure (crypto-shredding) and legal holds.

Erasure destroys the subject's wrapped data key and forgets the NIK index, then appends a SubjectErased
event to every referral of the subject, in one transaction. Every sealed field of that subject, in the
database and in every copy of the event log, is unreadable from then on. A legal hold refuses erasure.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel
from sqlmodel import select

from rujukan.referral.context import ReferralContext
from rujukan.referral.errors import LegalHold, NotFound
from rujukan.referral.eventstore import append_event
from rujukan.referral.models import Referral, Subject
from rujukan.referral.parties import party_role


class Erasure(BaseModel):
    subject_id: str
    erased_at: dt.datetime
    referrals: int


def erase_subject(ctx: ReferralContext, *, agency: str, subject_id: str) -> Erasure:
    with ctx.transaction() as session:
        subject = session.get(Subject, subject_id, with_for_update=True)
        referrals = list(
            session.exec(select(Referral).where(Referral.subject_id == subject_id).with_for_update()).all()
        )
        if subject is None or not any(party_role(r, agency) for r in referrals):
            raise NotFound("subject not found")
        if subject.erased_at is not None:
            return Erasure(subject_id=subject.id, erased_at=subject.erased_at, referrals=len(referrals))
        if subject.legal_hold:
            raise LegalHold("a legal hold blocks erasure of this subject")
        now = ctx.clock()
        subject.wrapped_key, subject.nik_index, subject.erased_at = None, None, now
        session.add(subject)
        for referral in referrals:
            referral.updated_at = now
            append_event(
                session,
                ctx.codec,
                referral,
                "SubjectErased",
                actor=agency,
                occurred_at=now,
                fields={"subject_id": subject.id},
            )
        return Erasure(subject_id=subject.id, erased_at=now, referrals=len(referrals))


def set_legal_hold(ctx: ReferralContext, *, subject_id: str, active: bool) -> None:
    """Operators (CLI) place or lift a legal hold."""
    with ctx.transaction() as session:
        subject = session.get(Subject, subject_id)
        if subject is None:
            raise NotFound("subject not found")
        subject.legal_hold = active
        session.add(subject)
