"""Who a referral is about: subjects scoped to the agency that controls them, and what each agency sees.

A subject is one person as one agency knows them: the agency that creates a referral (or forwards one)
controls the subject of that referral. Its NIK index is keyed with the controller, so an agency that
sends a NIK another agency already knows gets a subject of its own, and learns nothing of the other's.
A second, internal index links the subjects of one person across agencies (for parallel-referral
warnings and for an operator's system-wide erasure); it is never shown to anyone.

Every agency sees its own alias of a subject: a keyed hash of the agency and the subject id. The
internal subject id is what the events carry (the tracker shows it to coordinators); aliases never leave
the agency API. An alias is resolved among the subjects of the referrals the caller is party to, so an
alias of another agency's, or a made-up one, resolves to nothing: 404, as for a subject that does not
exist.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass

from sqlmodel import Session, or_, select

from rujukan.core.fast_sql import connection_of, fetch_one
from rujukan.core.sealing import DataKey
from rujukan.referral.context import ReferralContext
from rujukan.referral.errors import NotFound, Restricted
from rujukan.referral.models import Referral, Subject
from rujukan.referral.statements import statements


@dataclass(frozen=True, slots=True)
class SubjectKey:
    subject_id: str
    key: DataKey


def subject_for(
    ctx: ReferralContext, session: Session, *, controller: str, nik: str | None, now: dt.datetime
) -> SubjectKey:
    """The controller's subject with this NIK, or a new one with a new data key (always new without NIK)."""
    index = ctx.master_key.nik_index(nik, controller=controller) if nik else None
    connection = connection_of(session)
    if index is not None:
        found = fetch_one(connection, statements(connection).subject_by_nik, (index,))
        if found is not None and found[1] is not None:
            return SubjectKey(str(found[0]), ctx.master_key.unwrap(bytes(found[1]), str(found[0])))
    subject_id = "sub_" + uuid.uuid4().hex[:20]
    wrapped = ctx.master_key.new_wrapped_data_key(subject_id)
    row = {
        "id": subject_id,
        "controller": controller,
        "nik_index": index,
        "person_index": ctx.master_key.person_index(nik) if nik else None,
        "wrapped_key": wrapped,
        "legal_hold": False,
        "created_at": now,
    }
    statements(connection).insert_subject.run(connection, [row])
    return SubjectKey(subject_id, ctx.master_key.unwrap(wrapped, subject_id))


def nik_of(identity: bytes) -> str | None:
    """The NIK in an opened sealed identity (the JSON that create seals), if any."""
    nik = json.loads(identity).get("nik")
    return str(nik) if nik else None


def alias(ctx: ReferralContext, *, viewer: str, subject_id: str) -> str:
    """What ``viewer`` sees as the subject's id."""
    return ctx.master_key.subject_alias(viewer, subject_id)


def check_not_restricted(subject: Subject | None, agency: str) -> None:
    """Only the controller views or acts on a restricted subject's referrals (see ``rights``)."""
    if subject is not None and subject.restricted_at is not None and subject.controller != agency:
        raise Restricted("the agency that controls this subject restricted the processing of its data")


def resolve_alias(ctx: ReferralContext, session: Session, *, agency: str, alias_id: str) -> Subject:
    """The subject ``agency`` knows as ``alias_id`` among the referrals it is party to, else NotFound."""
    query = (
        select(Referral.subject_id).where(or_(Referral.from_agency == agency, Referral.to_agency == agency)).distinct()
    )
    for subject_id in session.exec(query):
        if alias(ctx, viewer=agency, subject_id=subject_id) == alias_id:
            subject = session.get(Subject, subject_id)
            if subject is not None:
                return subject
    raise NotFound("subject not found")
