"""Use case: an agency creates a referral (``POST /v1/referrals``).

One transaction writes the subject (if new), the referral row, its ReferralCreated event (the outbox)
and the idempotency record. A retry with the same Idempotency-Key and body gets the first answer back
and creates nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from rujukan.core.sealing import DataKey
from rujukan.referral.commands import CreateReferral
from rujukan.referral.context import ReferralContext
from rujukan.referral.domain import age_band, check_create
from rujukan.referral.errors import IdempotencyKeyReused, InvalidRequest
from rujukan.referral.eventstore import append_event
from rujukan.referral.models import Agency, IdempotencyKey, Referral, Subject
from rujukan.referral.parties import party_role
from rujukan.referral.views import ReferralSummary, summary


@dataclass(frozen=True, slots=True)
class Created:
    referral: ReferralSummary
    replayed: bool  # True when an Idempotency-Key retry returned the first answer


def create_referral(
    ctx: ReferralContext, *, agency: str, request: CreateReferral, idempotency_key: str | None = None
) -> Created:
    request_hash = hashlib.sha256(request.model_dump_json().encode()).hexdigest()
    for attempt in range(2):  # a concurrent twin (same key, or same new NIK) makes the first try collide
        try:
            with ctx.transaction() as session:
                if idempotency_key is not None:
                    previous = _previous_answer(session, agency, idempotency_key, request_hash)
                    if previous is not None:
                        return Created(referral=previous, replayed=True)
                created = _create(ctx, session, agency=agency, request=request)
                if idempotency_key is not None:
                    session.add(
                        IdempotencyKey(
                            agency_code=agency,
                            key=idempotency_key,
                            request_hash=request_hash,
                            referral_id=created.id,
                            response=created.model_dump_json(),
                            created_at=ctx.clock(),
                        )
                    )
                return Created(referral=created, replayed=False)
        except IntegrityError:
            if attempt == 1:
                raise
    raise AssertionError("unreachable")


def _previous_answer(session: Session, agency: str, key: str, request_hash: str) -> ReferralSummary | None:
    row = session.get(IdempotencyKey, (agency, key))
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise IdempotencyKeyReused("Idempotency-Key was already used for a different request")
    return ReferralSummary.model_validate_json(row.response)


def _create(ctx: ReferralContext, session: Session, *, agency: str, request: CreateReferral) -> ReferralSummary:
    now = ctx.clock()
    check_create(request, now=now)
    check_receiver(session, sender=agency, receiver=request.to_agency, service_type=request.service_type.value)
    case_id, parent_id = _case_and_parent(session, agency=agency, request=request)
    subject, key = _subject_for(ctx, session, request=request, now=now)
    referral_id = str(uuid.uuid4())
    referral = Referral(
        id=referral_id,
        case_id=case_id,
        parent_referral_id=parent_id,
        from_agency=agency,
        to_agency=request.to_agency,
        service_type=request.service_type.value,
        urgency=request.urgency.value,
        status="requested",
        subject_id=subject.id,
        subject_category=request.subject.category.value,
        subject_sex=request.subject.sex.value,
        subject_age_band=age_band(request.subject.birth_date, now.date()).value,
        subject_region_code=request.subject.region_code,
        legal_basis=request.legal_basis.value,
        consent_given_by=request.consent.given_by.value if request.consent else None,
        consent_recorded_at=request.consent.recorded_at if request.consent else None,
        sealed_subject=seal_identity(key, request, subject_id=subject.id, referral_id=referral_id),
        sealed_reason=key.seal(request.reason.encode(), subject_id=subject.id, referral_id=referral_id, field="reason"),
        created_at=now,
        updated_at=now,
    )
    session.add(referral)
    append_event(
        session, ctx.codec, referral, "ReferralCreated", actor=agency, occurred_at=now, fields=created_fields(referral)
    )
    session.flush()
    return summary(referral)


def seal_identity(key: DataKey, request: CreateReferral, *, subject_id: str, referral_id: str) -> bytes:
    subject = request.subject
    identity = {
        "full_name": subject.full_name,
        "nik": subject.nik,
        "phone": subject.phone,
        "address": subject.address,
        "birth_date": subject.birth_date.isoformat() if subject.birth_date else None,
    }
    return key.seal(json.dumps(identity).encode(), subject_id=subject_id, referral_id=referral_id, field="subject")


def created_fields(referral: Referral) -> dict[str, object]:
    """The payload of a ReferralCreated event for a referral row."""
    consent = None
    if referral.consent_given_by and referral.consent_recorded_at:
        consent = {"given_by": referral.consent_given_by, "recorded_at": referral.consent_recorded_at}
    return {
        "from_agency": referral.from_agency,
        "to_agency": referral.to_agency,
        "service_type": referral.service_type,
        "urgency": referral.urgency,
        "parent_referral_id": uuid.UUID(referral.parent_referral_id) if referral.parent_referral_id else None,
        "subject_id": referral.subject_id,
        "subject_category": referral.subject_category,
        "subject_sex": referral.subject_sex,
        "subject_age_band": referral.subject_age_band,
        "subject_region_code": referral.subject_region_code,
        "legal_basis": referral.legal_basis,
        "consent": consent,
        "sealed_subject": referral.sealed_subject,
        "sealed_reason": referral.sealed_reason,
    }


def check_receiver(session: Session, *, sender: str, receiver: str, service_type: str) -> None:
    if receiver == sender:
        raise InvalidRequest("an agency cannot refer to itself")
    target = session.get(Agency, receiver)
    if target is None:
        raise InvalidRequest(f"unknown agency {receiver}")
    offered = json.loads(target.services)
    if offered and service_type not in offered:
        raise InvalidRequest(f"agency {receiver} does not offer {service_type}")


def _case_and_parent(session: Session, *, agency: str, request: CreateReferral) -> tuple[str, str | None]:
    if request.parent_referral_id is not None:
        parent = session.get(Referral, str(request.parent_referral_id))
        if parent is None or party_role(parent, agency) is None:
            raise InvalidRequest("parent_referral_id does not name a referral of yours")
        if request.case_id is not None and str(request.case_id) != parent.case_id:
            raise InvalidRequest("case_id differs from the parent referral's case")
        return parent.case_id, parent.id
    if request.case_id is not None:
        case_id = str(request.case_id)
        mine = (
            select(Referral.id)
            .where(Referral.case_id == case_id)
            .where((Referral.from_agency == agency) | (Referral.to_agency == agency))
        )
        if session.exec(mine).first() is None:
            raise InvalidRequest("case_id does not name a case of yours")
        return case_id, None
    return str(uuid.uuid4()), None


def _subject_for(
    ctx: ReferralContext, session: Session, *, request: CreateReferral, now: dt.datetime
) -> tuple[Subject, DataKey]:
    """The subject with this NIK (same pseudonym as before), or a new subject with a new data key."""
    index = ctx.master_key.nik_index(request.subject.nik) if request.subject.nik else None
    if index is not None:
        existing = session.exec(select(Subject).where(Subject.nik_index == index)).first()
        if existing is not None and existing.wrapped_key is not None:
            return existing, ctx.master_key.unwrap(existing.wrapped_key, existing.id)
    subject_id = "sub_" + uuid.uuid4().hex[:20]
    subject = Subject(
        id=subject_id, nik_index=index, wrapped_key=ctx.master_key.new_wrapped_data_key(subject_id), created_at=now
    )
    session.add(subject)
    session.flush()  # before the referral that points at it
    assert subject.wrapped_key is not None
    return subject, ctx.master_key.unwrap(subject.wrapped_key, subject_id)
