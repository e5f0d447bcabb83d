"""Pathways: a template of steps (data, ``rujukan pathway load``) started for one person from an anchor date.

A template (JSON, :data:`BUNDLED`) lists steps: the service, the kind of agency that gives it, how many days
before or after the anchor (say the expected release date) it is sent, its urgency and, if it has one, its
own SLA. Starting a pathway (``POST /v1/pathway-templates/{code}/start``) names the receiving agency of each
step and creates every step at once, in one transaction and one case, each continuing the one before: a step
due later is a *planned* referral (status ``planned``, ReferralCreated v4 with ``planned_for``), which both
parties see, the requester can send early or cancel, and whose SLA clocks start only when it is sent; a step
already due is sent at once.

The scheduler (:func:`send_due`, a loop of the referral service under a lease) sends each planned step when its
time comes, as the requesting agency's ``send`` action: the row is locked and the lifecycle allows ``send``
only from ``planned``, so a step is sent once however many instances run, restart or retry. The schedule is
the referral rows themselves: nothing is kept in memory.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, ValidationError, model_validator
from sqlmodel import Session, col, select

from rujukan.core.group_commit import Unit
from rujukan.core.lifecycle import Action, Status
from rujukan.core.loops import Periodic
from rujukan.core.vocabulary import AgencyKind, LegalBasis, ServiceType, SubjectCategory, Urgency
from rujukan.referral.act import act_once
from rujukan.referral.commands import (
    ActionBody,
    AgencyCode,
    AssessmentIn,
    ConsentIn,
    CreateReferral,
    FreeText,
    Strict,
    SubjectIn,
)
from rujukan.referral.context import ReferralContext
from rujukan.referral.create import PathwayStep, create_one, recorded_answer, remember_request
from rujukan.referral.domain import PLANNING_HORIZON
from rujukan.referral.errors import ActionNotAllowed, InvalidRequest, NotFound
from rujukan.referral.identity import subject_for
from rujukan.referral.models import Agency, PathwayTemplateRow, Referral
from rujukan.referral.views import ReferralSummary

SEND_TIME = dt.time(1, 0, tzinfo=dt.UTC)  # a step goes out at 08:00 WIB on its day
SCHEDULER_INTERVAL_S = 2.0
SEND_BATCH = 100
MAX_STEPS = 12
MAX_OFFSET_DAYS = 366
ANCHOR_PAST = dt.timedelta(days=366)  # a pathway started late: its steps already due are sent at once
CODE = re.compile(r"[a-z][a-z0-9_]{1,59}")
Code = Annotated[str, StringConstraints(pattern=f"^{CODE.pattern}$")]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


def bundled_templates() -> list[Path]:
    """The templates that ship with Rujukan (``rujukan pathway load`` without files loads these)."""
    folder = resources.files("rujukan.referral") / "pathway_templates"
    return sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".json"))


class LocalText(Strict):
    id: Label
    en: Label


class StepSla(Strict):
    """A step's own SLA limits, in hours (the policy's for its urgency and service type otherwise)."""

    acknowledge: float = Field(gt=0, le=24 * 366)
    respond: float = Field(gt=0, le=24 * 366)

    @model_validator(mode="after")
    def _ordered(self) -> StepSla:
        if self.respond < self.acknowledge:
            raise ValueError("respond cannot fall due before acknowledge")
        return self


class TemplateStep(Strict):
    key: Code
    name: LocalText
    service_type: ServiceType
    agency_kind: AgencyKind | None = Field(
        default=None, description="The kind of agency the step goes to; any if null."
    )
    offset_days: int = Field(ge=-MAX_OFFSET_DAYS, le=MAX_OFFSET_DAYS, description="Days after (or before) the anchor.")
    urgency: Urgency = Urgency.ROUTINE
    sla_hours: StepSla | None = None


class PathwayTemplate(Strict):
    code: Code
    name: LocalText
    description: LocalText
    anchor: LocalText = Field(description="What the anchor date is, e.g. the expected release date.")
    subject_categories: list[SubjectCategory] = Field(default_factory=list, description="For whom; empty: anyone.")
    steps: list[TemplateStep] = Field(min_length=1, max_length=MAX_STEPS)

    @model_validator(mode="after")
    def _steps(self) -> PathwayTemplate:
        keys = [step.key for step in self.steps]
        if len(set(keys)) != len(keys):
            raise ValueError("step keys must be unique")
        offsets = [step.offset_days for step in self.steps]
        if offsets != sorted(offsets):
            raise ValueError("steps must be listed in the order they are sent (offset_days never decreasing)")
        return self


class StartPathway(Strict):
    """Body of ``POST /v1/pathway-templates/{code}/start``."""

    anchor_date: dt.date = Field(description="The date the steps are scheduled from, e.g. the expected release date.")
    agencies: dict[Code, AgencyCode] = Field(
        max_length=MAX_STEPS, description="The receiving agency of each step of the template, by step key."
    )
    reason: FreeText = Field(description="Why the person is on this pathway; sealed, read by the parties of each step.")
    legal_basis: LegalBasis
    consent: ConsentIn | None = None
    subject: SubjectIn
    continues_referral_id: uuid.UUID | None = Field(
        default=None, description="A referral of yours the pathway continues: its steps join that referral's case."
    )
    assessment: AssessmentIn | None = Field(
        default=None, description="A risk and needs assessment that travels with every step (sealed)."
    )


class StartedPathway(BaseModel):
    pathway_id: str
    template: str
    case_id: str
    anchor_date: dt.date
    steps: list[ReferralSummary]


@dataclass(frozen=True, slots=True)
class Started:
    pathway: StartedPathway
    replayed: bool


def parse_template(text: str, *, source: str) -> PathwayTemplate:
    """A template from its JSON; InvalidRequest naming the first problem (and ``source``)."""
    try:
        return PathwayTemplate.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "template"
        raise InvalidRequest(f"{source}: {where}: {first['msg']}") from exc


def load_templates(ctx: ReferralContext, templates: list[PathwayTemplate]) -> int:
    """Store the templates (a template with the same code is replaced); how many."""
    now = ctx.clock()
    with ctx.transaction() as session:
        for template in templates:
            body = template.model_dump_json()
            row = session.get(PathwayTemplateRow, template.code)
            if row is None:
                row = PathwayTemplateRow(code=template.code, body=body, loaded_at=now)
            row.body, row.loaded_at = body, now
            session.add(row)
    return len(templates)


def ensure_templates(ctx: ReferralContext) -> int:
    """Load the bundled templates into a service that has none yet (``rujukan up``); how many were loaded."""
    with ctx.read() as session:
        if session.exec(select(PathwayTemplateRow.code).limit(1)).first() is not None:
            return 0
    return load_templates(ctx, templates_from_files(bundled_templates()))


def list_templates(ctx: ReferralContext) -> list[PathwayTemplate]:
    with ctx.read() as session:
        rows = session.exec(select(PathwayTemplateRow).order_by(col(PathwayTemplateRow.code))).all()
        return [PathwayTemplate.model_validate_json(row.body) for row in rows]


def get_template(ctx: ReferralContext, code: str) -> PathwayTemplate:
    with ctx.read() as session:
        return _template(session, code)


def _template(session: Session, code: str) -> PathwayTemplate:
    if CODE.fullmatch(code) is None:  # not a code at all (PostgreSQL refuses some strings outright, NUL)
        raise NotFound("pathway template not found")
    row = session.get(PathwayTemplateRow, code)
    if row is None:
        raise NotFound("pathway template not found")
    return PathwayTemplate.model_validate_json(row.body)


def planned_time(anchor: dt.date, offset_days: int) -> dt.datetime:
    """When a step ``offset_days`` from ``anchor`` is sent."""
    return dt.datetime.combine(anchor + dt.timedelta(days=offset_days), SEND_TIME)


def start_pathway(
    ctx: ReferralContext, *, agency: str, code: str, request: StartPathway, idempotency_key: str | None = None
) -> Started:
    return ctx.writer.run(start_unit(ctx, agency=agency, code=code, request=request, idempotency_key=idempotency_key))


def start_unit(
    ctx: ReferralContext, *, agency: str, code: str, request: StartPathway, idempotency_key: str | None = None
) -> Unit[Started]:
    """Every step of the pathway created in one unit of work (all or none); an Idempotency-Key retry answers
    with the first answer and creates nothing."""
    request_hash = ctx.master_key.fingerprint(f"pathway/{code}:{request.model_dump_json()}".encode())

    def unit(session: Session) -> Started:
        if idempotency_key is not None:
            previous = recorded_answer(session, agency, idempotency_key, request_hash)
            if previous is not None:
                return Started(StartedPathway.model_validate_json(previous), replayed=True)
        started = _start(ctx, session, agency=agency, template=_template(session, code), request=request)
        if idempotency_key is not None:
            first = started.steps[0].id
            remember_request(ctx, session, agency, idempotency_key, request_hash, first, started.model_dump_json())
        return Started(started, replayed=False)

    return unit


def _start(
    ctx: ReferralContext, session: Session, *, agency: str, template: PathwayTemplate, request: StartPathway
) -> StartedPathway:
    now = ctx.clock()
    if not now.date() - ANCHOR_PAST <= request.anchor_date <= now.date() + PLANNING_HORIZON:
        raise InvalidRequest("anchor_date must lie within a year before and two years after today")
    _check_start(session, template, request)
    subject = subject_for(ctx, session, controller=agency, nik=request.subject.nik, now=now)  # one person, all steps
    pathway_id = str(uuid.uuid4())
    previous, steps = request.continues_referral_id, []
    for step in template.steps:
        planned_for = planned_time(request.anchor_date, step.offset_days)
        create = CreateReferral(
            to_agency=request.agencies[step.key],
            service_type=step.service_type,
            urgency=step.urgency,
            reason=request.reason,
            legal_basis=request.legal_basis,
            consent=request.consent,
            subject=request.subject,
            continues_referral_id=previous,
            assessment=request.assessment,
            planned_for=planned_for if planned_for > now else None,  # a step already due is sent now
        )
        sla = (step.sla_hours.acknowledge, step.sla_hours.respond) if step.sla_hours else None
        marker = PathwayStep(pathway_id, template.code, step.key, request.anchor_date, sla)
        try:
            created = create_one(ctx, session, agency=agency, request=create, step=marker, subject=subject)
        except InvalidRequest as exc:
            raise InvalidRequest(f"step {step.key}: {exc}") from exc
        previous = uuid.UUID(created.id)
        steps.append(created)
    return StartedPathway(
        pathway_id=pathway_id,
        template=template.code,
        case_id=steps[0].case_id,
        anchor_date=request.anchor_date,
        steps=steps,
    )


def _check_start(session: Session, template: PathwayTemplate, request: StartPathway) -> None:
    keys = [step.key for step in template.steps]
    missing, unknown = [k for k in keys if k not in request.agencies], sorted(set(request.agencies) - set(keys))
    if missing or unknown:
        parts = [f"missing agencies for {', '.join(missing)}"] if missing else []
        parts += [f"{', '.join(unknown)} not steps of {template.code}"] if unknown else []
        raise InvalidRequest(f"agencies: {'; '.join(parts)} (steps: {', '.join(keys)})")
    categories = template.subject_categories
    if categories and request.subject.category not in categories:
        allowed = ", ".join(c.value for c in categories)
        raise InvalidRequest(f"subject.category: {template.code} is for {allowed}")
    for step in template.steps:
        code = request.agencies[step.key]
        found = session.get(Agency, code)
        if found is not None and step.agency_kind is not None and found.kind != step.agency_kind.value:
            raise InvalidRequest(f"step {step.key}: {code} is not a {step.agency_kind.value} agency")


def send_due(ctx: ReferralContext, *, limit: int = SEND_BATCH) -> int:
    """Send every planned referral whose time has come (at most ``limit``, the earliest first); how many were
    sent. One that was sent or cancelled meanwhile is passed over."""
    now = ctx.clock()
    with ctx.read() as session:
        due = session.exec(
            select(Referral.id, Referral.from_agency)
            .where(col(Referral.status) == Status.PLANNED.value, col(Referral.planned_for) <= now)
            .order_by(col(Referral.planned_for), col(Referral.id))
            .limit(limit)
        ).all()
    sent = 0
    for referral_id, requester in due:
        try:
            act_once(ctx, agency=requester, referral_id=referral_id, action=Action.SEND, body=ActionBody())
        except ActionNotAllowed:  # sent early or cancelled since it was read
            continue
        sent += 1
    return sent


def scheduler(ctx: ReferralContext, *, interval_s: float = SCHEDULER_INTERVAL_S) -> Periodic:
    """The loop worker that sends planned steps on time (run under a lease: one instance at a time)."""
    return Periodic(lambda: send_due(ctx), interval_s=interval_s, idle_s=min(1.0, interval_s))


def templates_from_files(paths: list[Path]) -> list[PathwayTemplate]:
    """Parse every file first (InvalidRequest names the first bad one): a load writes all or nothing."""
    templates = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidRequest(f"{path}: cannot read ({exc.strerror})") from exc
        try:
            json.loads(text)
        except ValueError as exc:
            raise InvalidRequest(f"{path}: not JSON ({exc})") from exc
        templates.append(parse_template(text, source=str(path)))
    return templates
