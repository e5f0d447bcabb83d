"""Use case: a party takes a lifecycle action (``POST /v1/referrals/{id}/{action}``).

The referral row is locked, the lifecycle decides, the status changes and the event is appended in the
same transaction. ``forward`` also creates the child referral (same case, parent set) with its own
ReferralCreated event; the forwarding agency controls the child, so its subject data is sealed again
under that agency's own subject.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from rujukan.core.group_commit import Unit
from rujukan.core.lifecycle import (
    RULES,
    Action,
    IllegalAction,
    LifecycleError,
    NotAParty,
    Role,
    Status,
    Transition,
    decide,
)
from rujukan.core.sealing import DataKey, SealingError
from rujukan.core.vocabulary import ReasonCode
from rujukan.referral.commands import ActionBody
from rujukan.referral.context import ReferralContext
from rujukan.referral.create import check_receiver, due_times, insert_referral, remember_request, taken_before
from rujukan.referral.directory import note_capacity_rejection
from rujukan.referral.errors import ActionNotAllowed, InvalidRequest, NotFound, SubjectErased, VersionMismatch
from rujukan.referral.eventstore import append_event
from rujukan.referral.identity import check_not_restricted, nik_of, subject_for
from rujukan.referral.models import Referral, Subject
from rujukan.referral.parties import load_as_party
from rujukan.referral.preflight import findings_for, person_from
from rujukan.referral.queries import view_in_session
from rujukan.referral.views import ReferralView


def act_on_referral(
    ctx: ReferralContext, *, agency: str, referral_id: str, action: Action, body: ActionBody
) -> ReferralView:
    return act_once(ctx, agency=agency, referral_id=referral_id, action=action, body=body).view


@dataclass(frozen=True, slots=True)
class Acted:
    view: ReferralView
    replayed: bool  # True when an Idempotency-Key retry found the action taken already


def act_once(
    ctx: ReferralContext,
    *,
    agency: str,
    referral_id: str,
    action: Action,
    body: ActionBody,
    idempotency_key: str | None = None,
) -> Acted:
    return ctx.writer.run(
        act_unit(ctx, agency=agency, referral_id=referral_id, action=action, body=body, idempotency_key=idempotency_key)
    )


def act_unit(
    ctx: ReferralContext,
    *,
    agency: str,
    referral_id: str,
    action: Action,
    body: ActionBody,
    idempotency_key: str | None = None,
    expected_version: int | None = None,
) -> Unit[Acted]:
    """The action as a unit of work for the writer (group commit). With ``idempotency_key``, a retry of the
    same request (same referral, action and body) takes nothing again and answers with the referral as it
    is now, and another request with the same key is refused. The key is looked up once the referral is
    locked, so concurrent twins take turns; a twin with the same key on another referral makes the first
    try collide, and the writer tries it again. With ``expected_version`` (FHIR's If-Match: the referral's
    last event number), a referral that moved on since is refused, checked under the same lock."""
    request_hash = ctx.master_key.fingerprint(f"{referral_id}/{action.value}:{body.model_dump_json()}".encode())

    def unit(session: Session) -> Acted:
        referral, role = load_as_party(session, referral_id=referral_id, agency=agency, for_update=True)
        check_not_restricted(session.get(Subject, referral.subject_id), agency)
        if idempotency_key is not None and taken_before(session, agency, idempotency_key, request_hash):
            return Acted(view_in_session(ctx, session, referral, role), replayed=True)
        if expected_version is not None and referral.last_seq != expected_version:
            raise VersionMismatch("the referral changed since that version was read (If-Match)")
        _act(ctx, session, referral, role, action=action, body=body, agency=agency)
        if idempotency_key is not None:
            answer = json.dumps({"action": action.value})
            remember_request(ctx, session, agency, idempotency_key, request_hash, referral.id, answer)
        session.flush()
        return Acted(view_in_session(ctx, session, referral, role), replayed=False)

    return unit


def _act(
    ctx: ReferralContext,
    session: Session,
    referral: Referral,
    role: Role,
    *,
    action: Action,
    body: ActionBody,
    agency: str,
) -> None:
    transition = _decide(action, referral, role, body)
    now = ctx.clock()
    key = _subject_key(ctx, session, referral) if body.note is not None or action is Action.FORWARD else None
    fields = _event_fields(ctx, session, referral, transition, body=body, key=key, actor=agency, now=now)
    referral.status = transition.target.value
    referral.updated_at = now
    if transition.target is Status.COMPLETED:
        referral.completed_at = now
    append_event(session, ctx, referral, transition.event_type, actor=agency, occurred_at=now, fields=fields)
    if action is Action.REJECT and body.reason_code is ReasonCode.CAPACITY_FULL:
        note_capacity_rejection(ctx, session, agency=referral.to_agency, service_type=referral.service_type)


def _decide(action: Action, referral: Referral, role: Role, body: ActionBody) -> Transition:
    try:
        return decide(action, status=Status(referral.status), role=role, given=body.given())
    except NotAParty as exc:
        raise NotFound("referral not found") from exc
    except IllegalAction as exc:
        raise ActionNotAllowed(str(exc), status=exc.status.value, allowed=[a.value for a in exc.allowed]) from exc
    except LifecycleError as exc:  # missing or unexpected body fields
        raise InvalidRequest(str(exc)) from exc


def _subject_key(ctx: ReferralContext, session: Session, referral: Referral) -> DataKey:
    subject = session.get(Subject, referral.subject_id)
    if subject is None or subject.wrapped_key is None:
        raise SubjectErased("the subject of this referral was erased; nothing can be sealed for them")
    try:
        return ctx.master_key.unwrap(subject.wrapped_key, subject.id)
    except SealingError as exc:
        raise SubjectErased("the subject's data key does not open") from exc


def _event_fields(
    ctx: ReferralContext,
    session: Session,
    referral: Referral,
    transition: Transition,
    *,
    body: ActionBody,
    key: DataKey | None,
    actor: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """The event payload: the note (sealed) and exactly the fields the action requires."""
    fields: dict[str, Any] = {"sealed_note": None}
    if body.note is not None and key is not None:
        fields["sealed_note"] = key.seal(
            body.note.encode(),
            subject_id=referral.subject_id,
            referral_id=referral.id,
            field=f"note:{referral.last_seq + 1}",
        )
    if transition.action is Action.SEND:  # a planned referral's clocks start now
        fields["ack_due_at"], fields["respond_due_at"] = due_times(referral.model_dump(), sla=ctx.sla, at=now)
        referral.ack_due_at, referral.respond_due_at = fields["ack_due_at"], fields["respond_due_at"]
    requires = RULES[transition.action].requires
    if "reason_code" in requires and body.reason_code is not None:
        fields["reason_code"] = body.reason_code.value
    if "outcome" in requires and body.outcome is not None:
        fields["outcome"] = body.outcome.value
    if "to_agency" in requires and body.to_agency is not None and key is not None:
        child_id = _forward_child(ctx, session, referral, key=key, to_agency=body.to_agency, actor=actor, now=now)
        fields.update(to_agency=body.to_agency, child_referral_id=uuid.UUID(child_id))
    return fields


def _reseal_assessment(
    parent: Referral, key: DataKey, child_key: DataKey, *, subject_id: str, child_id: str
) -> bytes | None:
    """The parent's assessment, opened and sealed again for the forward's child (None when it has none)."""
    if parent.sealed_assessment is None:
        return None
    opened = key.open(parent.sealed_assessment, subject_id=parent.subject_id, referral_id=parent.id, field="assessment")
    return child_key.seal(opened, subject_id=subject_id, referral_id=child_id, field="assessment")


def _forward_child(
    ctx: ReferralContext,
    session: Session,
    parent: Referral,
    *,
    key: DataKey,
    to_agency: str,
    actor: str,
    now: dt.datetime,
) -> str:
    """Create the child referral of a forward; its id. The forwarding agency controls the child, so the
    subject data is opened with the parent's key and sealed again under the forwarder's own subject. The new
    receiver's directory entry is checked as for a create (an eligibility rule refuses the forward with
    422; the warnings stay on the child, and the person's other active referrals travel in its event)."""
    check_receiver(session, sender=actor, receiver=to_agency, service_type=parent.service_type)
    child_id = str(uuid.uuid4())
    identity = key.open(parent.sealed_subject, subject_id=parent.subject_id, referral_id=parent.id, field="subject")
    opened, nik = json.loads(identity), nik_of(identity)
    birth = opened.get("birth_date")
    findings = findings_for(
        ctx,
        session,
        agency=actor,
        to_agency=to_agency,
        service_type=parent.service_type,
        person=person_from(
            birth_date=dt.date.fromisoformat(birth) if birth else None,
            sex=parent.subject_sex,
            category=parent.subject_category,
            region_code=str(opened.get("region_code") or parent.subject_region_code),
            now=now,
        ),
        nik=nik,
        case_id=parent.case_id,
    )
    if findings.errors:
        first = findings.errors[0]
        raise InvalidRequest(f"{first['code']}: {first['detail']}")
    reason = key.open(parent.sealed_reason, subject_id=parent.subject_id, referral_id=parent.id, field="reason")
    own = subject_for(ctx, session, controller=actor, nik=nik, now=now)
    subject_id, child_key = own.subject_id, own.key
    values = parent.model_dump(
        include={
            "case_id",
            "service_type",
            "urgency",
            "subject_category",
            "subject_sex",
            "subject_age_band",
            "subject_region_code",
            "legal_basis",
            "consent_given_by",
            "consent_recorded_at",
            "pathway_id",  # a forwarded step stays a step of its pathway, with its own SLA
            "pathway_template",
            "pathway_step",
            "pathway_anchor_date",
            "step_sla",
        }
    )
    values.update(
        id=child_id,
        parent_referral_id=parent.id,
        from_agency=actor,
        to_agency=to_agency,
        status=Status.REQUESTED.value,
        subject_id=subject_id,
        created_at=now,
        updated_at=now,
        sealed_subject=child_key.seal(identity, subject_id=subject_id, referral_id=child_id, field="subject"),
        sealed_reason=child_key.seal(reason, subject_id=subject_id, referral_id=child_id, field="reason"),
        sealed_assessment=_reseal_assessment(parent, key, child_key, subject_id=subject_id, child_id=child_id),
        warnings=json.dumps(findings.warnings),
    )
    insert_referral(ctx, session, values, actor=actor, parallel=findings.parallel_ids)
    return child_id
