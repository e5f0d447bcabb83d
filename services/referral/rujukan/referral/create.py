"""Use case: an agency creates a referral (``POST /v1/referrals``).

One transaction writes the subject (if new), the referral row, its ReferralCreated event (the outbox)
and the idempotency record. A retry with the same Idempotency-Key and body gets the first answer back
and creates nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, select

from rujukan.core.fast_sql import connection_of, fetch_one
from rujukan.core.group_commit import Unit
from rujukan.core.lifecycle import Status
from rujukan.core.regions import KABUPATEN_KOTA, region_at
from rujukan.core.sealing import DataKey
from rujukan.core.sla import SlaPolicy
from rujukan.referral.commands import CreateReferral
from rujukan.referral.context import ReferralContext
from rujukan.referral.domain import age_band, check_create
from rujukan.referral.errors import IdempotencyKeyReused, InvalidRequest, NotFound
from rujukan.referral.eventstore import chain_event, insert_events
from rujukan.referral.identity import SubjectKey, alias, subject_for
from rujukan.referral.models import Referral
from rujukan.referral.parties import party_role
from rujukan.referral.preflight import preflight
from rujukan.referral.statements import statements
from rujukan.referral.views import ReferralSummary


@dataclass(frozen=True, slots=True)
class Created:
    referral: ReferralSummary
    replayed: bool  # True when an Idempotency-Key retry returned the first answer


def create_referral(
    ctx: ReferralContext, *, agency: str, request: CreateReferral, idempotency_key: str | None = None
) -> Created:
    return ctx.writer.run(create_unit(ctx, agency=agency, request=request, idempotency_key=idempotency_key))


def create_unit(
    ctx: ReferralContext, *, agency: str, request: CreateReferral, idempotency_key: str | None = None
) -> Unit[Created]:
    """The create as a unit of work for the writer (group commit; its answer counts once committed). A
    concurrent twin (same key, or same new NIK) makes a first try collide: the writer tries it again."""
    request_hash = ctx.master_key.fingerprint(request.model_dump_json().encode())  # keyed: the body holds PII

    def unit(session: Session) -> Created:
        if idempotency_key is not None:
            previous = _previous_answer(session, agency, idempotency_key, request_hash)
            if previous is not None:
                return Created(referral=previous, replayed=True)
        created = create_one(ctx, session, agency=agency, request=request)
        if idempotency_key is not None:
            remember_request(ctx, session, agency, idempotency_key, request_hash, created.id, created.model_dump_json())
        return Created(referral=created, replayed=False)

    return unit


def _previous_answer(session: Session, agency: str, key: str, request_hash: str) -> ReferralSummary | None:
    row = recorded_answer(session, agency, key, request_hash)
    return None if row is None else ReferralSummary.model_validate_json(row)


def taken_before(session: Session, agency: str, key: str, request_hash: str) -> bool:
    """Whether this agency made this very request with this Idempotency-Key before (raises for another)."""
    return recorded_answer(session, agency, key, request_hash) is not None


def remember_request(
    ctx: ReferralContext, session: Session, agency: str, key: str, request_hash: str, referral_id: str, answer: str
) -> None:
    """Record a request made with an Idempotency-Key: its keyed hash and ``answer`` (no identifying data)."""
    connection = connection_of(session)
    row = {
        "agency_code": agency,
        "key": key,
        "request_hash": request_hash,
        "referral_id": referral_id,
        "response": answer,
        "created_at": ctx.clock(),
    }
    statements(connection).insert_idempotency.run(connection, [row])


def recorded_answer(session: Session, agency: str, key: str, request_hash: str) -> str | None:
    """The answer recorded for this agency's key, if any (IdempotencyKeyReused for another request)."""
    connection = connection_of(session)
    row = fetch_one(connection, statements(connection).idempotency_row, (agency, key))
    if row is not None and row[0] != request_hash:
        raise IdempotencyKeyReused("Idempotency-Key was already used for a different request")
    return None if row is None else str(row[1])


@dataclass(frozen=True, slots=True)
class PathwayStep:
    """What makes a referral a step of a pathway (:mod:`rujukan.referral.pathways`)."""

    pathway_id: str
    template: str
    step: str
    anchor_date: dt.date
    sla_hours: tuple[float, float] | None = None  # the step's own acknowledge and respond limits


def create_one(
    ctx: ReferralContext,
    session: Session,
    *,
    agency: str,
    request: CreateReferral,
    step: PathwayStep | None = None,
    subject: SubjectKey | None = None,
) -> ReferralSummary:
    """Create one referral in ``session``; a pathway's steps pass their ``step`` and share one ``subject``."""
    now = ctx.clock()
    check_create(request, now=now)
    check_receiver(session, sender=agency, receiver=request.to_agency, service_type=request.service_type.value)
    case_id, parent_id = _case_and_parent(session, agency=agency, request=request)
    findings = preflight(ctx, session, agency=agency, request=request, case_id=case_id)
    if findings.errors:
        first = findings.errors[0]
        raise InvalidRequest(f"{first['code']}: {first['detail']}")
    subject = subject or subject_for(ctx, session, controller=agency, nik=request.subject.nik, now=now)
    subject_id, key = subject.subject_id, subject.key
    referral_id = str(uuid.uuid4())
    consent = request.consent
    values: dict[str, Any] = {
        "id": referral_id,
        "case_id": case_id,
        "parent_referral_id": parent_id,
        "continues_referral_id": str(request.continues_referral_id) if request.continues_referral_id else None,
        "from_agency": agency,
        "to_agency": request.to_agency,
        "service_type": request.service_type.value,
        "urgency": request.urgency.value,
        "status": (Status.PLANNED if request.planned_for else Status.REQUESTED).value,
        "planned_for": request.planned_for,
        "subject_id": subject_id,
        "subject_category": request.subject.category.value,
        "subject_sex": request.subject.sex.value,
        "subject_age_band": age_band(request.subject.birth_date, now.date()).value,
        "subject_region_code": region_at(request.subject.region_code, KABUPATEN_KOTA),  # the rest is sealed
        "legal_basis": request.legal_basis.value,
        "consent_given_by": consent.given_by.value if consent else None,
        "consent_recorded_at": consent.recorded_at if consent else None,
        "sealed_subject": seal_identity(key, request, subject_id=subject_id, referral_id=referral_id),
        "sealed_reason": key.seal(
            request.reason.encode(), subject_id=subject_id, referral_id=referral_id, field="reason"
        ),
        "sealed_assessment": seal_assessment(key, request, subject_id=subject_id, referral_id=referral_id),
        "created_at": now,
        "updated_at": now,
        "warnings": json.dumps(findings.warnings),
        **_step_values(step),
    }
    insert_referral(ctx, session, values, actor=agency, parallel=findings.parallel_ids)
    shown = {**values, "subject_id": alias(ctx, viewer=agency, subject_id=subject_id), "warnings": findings.warnings}
    return ReferralSummary.model_validate(shown)


def _step_values(step: PathwayStep | None) -> dict[str, Any]:
    if step is None:
        return {}
    return {
        "pathway_id": step.pathway_id,
        "pathway_template": step.template,
        "pathway_step": step.step,
        "pathway_anchor_date": step.anchor_date,
        "step_sla": json.dumps(list(step.sla_hours)) if step.sla_hours else None,
    }


class DryRun(BaseModel):
    """What ``POST /v1/referrals`` with ``"dry_run": true`` answers (200): nothing is stored."""

    would_create: bool
    warnings: list[dict[str, Any]]
    errors: list[dict[str, Any]]


def dry_run(ctx: ReferralContext, *, agency: str, request: CreateReferral) -> DryRun:
    """Every check a create makes, and its pre-flight, on a read-only transaction: what it would do."""
    errors: list[dict[str, Any]] = []
    case_id: str | None = None  # the case the referral would join
    with ctx.read() as session:
        checks: list[Callable[[], object]] = [
            lambda: check_create(request, now=ctx.clock()),
            lambda: check_receiver(
                session, sender=agency, receiver=request.to_agency, service_type=request.service_type.value
            ),
            lambda: _case_and_parent(session, agency=agency, request=request),
        ]
        for check in checks:
            try:
                found = check()
            except InvalidRequest as exc:
                errors.append({"code": "invalid_request", "detail": str(exc)})
                continue
            if isinstance(found, tuple):
                case_id = str(found[0])  # a new case's fresh id excludes nothing from the parallel ones
        findings = preflight(ctx, session, agency=agency, request=request, valid=not errors, case_id=case_id)
    errors += findings.errors
    return DryRun(would_create=not errors, warnings=findings.warnings, errors=errors)


def insert_referral(
    ctx: ReferralContext, session: Session, values: dict[str, Any], *, actor: str, parallel: list[str] | None = None
) -> None:
    """Insert a new referral row (``values``, completed with its chain head) and its ReferralCreated event
    (with the person's other active referrals, ``parallel``)."""
    fields = created_fields(values, sla=ctx.sla)
    event = chain_event(
        ctx,
        referral_id=values["id"],
        case_id=values["case_id"],
        last_seq=0,
        last_hash=None,
        event_type="ReferralCreated",
        actor=actor,
        occurred_at=values["created_at"],
        fields={**fields, "parallel_referral_ids": [uuid.UUID(p) for p in parallel or []]},
    )
    # the row keeps the due times the event carries (the inbox shows them; the log stays the record)
    values.update(last_seq=event.seq, last_hash=event.hash, ack_due_at=fields["ack_due_at"])
    values["respond_due_at"] = fields["respond_due_at"]
    connection = connection_of(session)
    statements(connection).insert_referral.run(connection, [{**REFERRAL_DEFAULTS, **values}])
    insert_events(session, [event])


REFERRAL_DEFAULTS = {
    "consent_given_by": None,
    "consent_recorded_at": None,
    "parent_referral_id": None,
    "continues_referral_id": None,
    "warnings": "[]",
    "planned_for": None,
    "pathway_id": None,
    "pathway_template": None,
    "pathway_step": None,
    "pathway_anchor_date": None,
    "step_sla": None,
    "completed_at": None,
    "ack_due_at": None,
    "respond_due_at": None,
    "sealed_assessment": None,
}


def seal_identity(key: DataKey, request: CreateReferral, *, subject_id: str, referral_id: str) -> bytes:
    subject = request.subject
    identity = {
        "full_name": subject.full_name,
        "nik": subject.nik,
        "phone": subject.phone,
        "address": subject.address,
        "birth_date": subject.birth_date.isoformat() if subject.birth_date else None,
        "region_code": subject.region_code,
    }
    if subject.ihs_number:  # only when given: the identities sealed before it stay as they were
        identity["ihs_number"] = subject.ihs_number
    return key.seal(json.dumps(identity).encode(), subject_id=subject_id, referral_id=referral_id, field="subject")


def seal_assessment(key: DataKey, request: CreateReferral, *, subject_id: str, referral_id: str) -> bytes | None:
    """The assessment of ``request`` sealed like the subject (its scores say as much about the person)."""
    if request.assessment is None:
        return None
    text = request.assessment.model_dump_json().encode()
    return key.seal(text, subject_id=subject_id, referral_id=referral_id, field="assessment")


def created_fields(values: Mapping[str, Any], *, sla: SlaPolicy) -> dict[str, Any]:
    """The payload of a ReferralCreated event for the values of a referral row, with the SLA due times of
    the policy in force now (they travel in the event: the tracker and the audit read them from the log)."""
    consent = None
    if values["consent_given_by"] and values["consent_recorded_at"]:
        consent = {"given_by": values["consent_given_by"], "recorded_at": values["consent_recorded_at"]}
    parent, previous = values["parent_referral_id"], values.get("continues_referral_id")
    planned_for, pathway = values.get("planned_for"), values.get("pathway_id")
    due: tuple[dt.datetime | None, dt.datetime | None] = (None, None)  # a planned referral's clocks start when sent
    if planned_for is None:
        due = due_times(values, sla=sla, at=values["created_at"])
    return {
        **{name: values[name] for name in CREATED_COPIED},
        "parent_referral_id": uuid.UUID(parent) if parent else None,
        "continues_referral_id": uuid.UUID(previous) if previous else None,
        "consent": consent,
        "ack_due_at": due[0],
        "respond_due_at": due[1],
        "planned_for": planned_for,
        "pathway_id": uuid.UUID(pathway) if pathway else None,
        **{
            name: values.get(name)
            for name in ("pathway_template", "pathway_step", "pathway_anchor_date", "sealed_assessment")
        },
    }


def due_times(values: Mapping[str, Any], *, sla: SlaPolicy, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """When a referral's acknowledge and respond clocks fall due if they start ``at``: a pathway step's own
    limits, or the policy's for its urgency and service type."""
    own = values.get("step_sla")
    if own:
        ack_hours, respond_hours = json.loads(own)
        return at + dt.timedelta(hours=ack_hours), at + dt.timedelta(hours=respond_hours)
    return sla.due_at(urgency=values["urgency"], service_type=values["service_type"], created_at=at)


CREATED_COPIED = (
    "from_agency",
    "to_agency",
    "service_type",
    "urgency",
    "subject_id",
    "subject_category",
    "subject_sex",
    "subject_age_band",
    "subject_region_code",
    "legal_basis",
    "sealed_subject",
    "sealed_reason",
)


def check_receiver(session: Session, *, sender: str, receiver: str, service_type: str) -> None:
    if receiver == sender:
        raise InvalidRequest("an agency cannot refer to itself")
    connection = connection_of(session)
    offered = fetch_one(connection, statements(connection).services_of, (receiver,))
    if offered is None:
        raise InvalidRequest(f"unknown agency {receiver}")
    services = json.loads(offered[0])
    if services and service_type not in services:
        raise InvalidRequest(f"agency {receiver} does not offer {service_type}")


def _case_and_parent(session: Session, *, agency: str, request: CreateReferral) -> tuple[str, str | None]:
    """The case a new referral joins and its parent (a re-referral's). A case or a referral to continue that
    is not the caller's answers 404 exactly as one that does not exist."""
    if request.continues_referral_id is not None:
        if request.parent_referral_id is not None:
            raise InvalidRequest("give continues_referral_id or parent_referral_id, not both")
        previous = session.get(Referral, str(request.continues_referral_id))
        if previous is None or party_role(previous, agency) is None:
            raise NotFound("referral not found")
        if request.case_id is not None and str(request.case_id) != previous.case_id:
            raise InvalidRequest("case_id differs from the case of the referral it continues")
        return previous.case_id, None
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
        if session.execute(mine).first() is None:
            raise NotFound("case not found")
        return case_id, None
    return str(uuid.uuid4()), None
