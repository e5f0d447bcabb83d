"""Follow-up after a pathway: once every step of a pathway has ended and at least one of its own was
completed, the agency that started it checks on the person 3, 6 and 12 months after the last completion.

Each check is a task of that agency (``GET /v1/follow-ups``) and is recorded once
(``POST /v1/referrals/{id}/follow-ups``) as a FollowUpRecorded event on the chain of the step completed last,
with an outcome from a code list and an optional sealed note. A check can be recorded from two weeks before
it falls due. The receiving agency of that step hears of it by webhook, like of any other event.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from rujukan.core.codec import EventCodec
from rujukan.core.group_commit import Unit
from rujukan.core.lifecycle import FOLLOW_UP_EVENT, TERMINAL, Role, Status
from rujukan.core.vocabulary import FOLLOW_UP_MONTHS, FollowUpOutcome
from rujukan.referral.commands import FreeText, Strict
from rujukan.referral.context import ReferralContext
from rujukan.referral.errors import Conflict, InvalidRequest, SubjectErased
from rujukan.referral.eventstore import append_event
from rujukan.referral.identity import check_not_restricted
from rujukan.referral.models import Referral, ReferralEvent, Subject
from rujukan.referral.parties import load_as_party

EARLY = dt.timedelta(days=14)  # a check may be recorded this long before it falls due
State = Literal["upcoming", "due", "overdue", "recorded"]


class FollowUpIn(Strict):
    """Body of ``POST /v1/referrals/{id}/follow-ups``."""

    checkpoint_months: Literal[3, 6, 12] = Field(description="Which check: 3, 6 or 12 months after the last step.")
    outcome: FollowUpOutcome
    note: FreeText | None = Field(default=None, description="Free text, sealed.")


class FollowUpTask(BaseModel):
    pathway_id: str
    pathway_template: str | None
    referral_id: str  # the step completed last, where the check is recorded
    checkpoint_months: int
    due_at: dt.datetime
    state: State  # upcoming until two weeks before it falls due
    outcome: FollowUpOutcome | None = None
    recorded_at: dt.datetime | None = None


class FollowUpTasks(BaseModel):
    items: list[FollowUpTask]


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """``moment`` plus calendar months (the last day of a shorter month when the day does not exist)."""
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise ValueError("no such month")  # pragma: no cover - day 28 exists in every month


@dataclass(frozen=True, slots=True)
class _Finished:
    pathway_id: str
    template: str | None
    last: Referral  # the step completed last


def _finished(steps: list[Referral]) -> _Finished | None:
    """The pathway of ``steps`` (all of them, a forward's child too) if every step has ended and one of the
    starting agency's own steps was completed: that one completed last, where its follow-ups are recorded
    (the starting agency is a party to its own steps only)."""
    if not steps or any(Status(step.status) not in TERMINAL for step in steps):
        return None
    own = {step.from_agency for step in steps if step.parent_referral_id is None}  # the pathway's starter
    completed = [step for step in steps if step.completed_at is not None and step.from_agency in own]
    if not completed:
        return None
    last = max(completed, key=lambda step: (step.completed_at, _depth(step, steps), step.id))
    return _Finished(str(last.pathway_id), last.pathway_template, last)


def _depth(step: Referral, steps: list[Referral]) -> int:
    """How far along the pathway's chain of continuations a step is (0 for its first): of two steps completed
    at the same moment, the later one in the pathway is its last."""
    before = {s.id: s.continues_referral_id for s in steps}
    depth, at = 0, before.get(step.id)
    while at in before and depth < len(steps):
        depth, at = depth + 1, before[at]
    return depth


def _recorded(session: Session, codec: EventCodec, referral_id: str) -> dict[int, tuple[FollowUpOutcome, dt.datetime]]:
    rows = session.exec(
        select(ReferralEvent.payload, ReferralEvent.occurred_at).where(
            col(ReferralEvent.referral_id) == referral_id, col(ReferralEvent.event_type) == FOLLOW_UP_EVENT
        )
    ).all()
    found = {}
    for payload, occurred_at in rows:
        record = codec.decode(payload).record
        found[int(record["checkpoint_months"])] = (FollowUpOutcome(record["follow_up_outcome"]), occurred_at)
    return found


def follow_up_unit(ctx: ReferralContext, *, agency: str, referral_id: str, body: FollowUpIn) -> Unit[FollowUpTask]:
    def unit(session: Session) -> FollowUpTask:
        referral, role = load_as_party(session, referral_id=referral_id, agency=agency, for_update=True)
        check_not_restricted(session.get(Subject, referral.subject_id), agency)
        finished, due = _recordable(ctx, session, referral, role, body)
        now = ctx.clock()
        fields = {
            "checkpoint_months": body.checkpoint_months,
            "follow_up_outcome": body.outcome.value,
            "pathway_id": uuid.UUID(finished.pathway_id),
            "sealed_note": _sealed_note(ctx, session, referral, body.note),
        }
        referral.updated_at = now
        append_event(session, ctx, referral, FOLLOW_UP_EVENT, actor=agency, occurred_at=now, fields=fields)
        return FollowUpTask(
            pathway_id=finished.pathway_id,
            pathway_template=finished.template,
            referral_id=referral.id,
            checkpoint_months=body.checkpoint_months,
            due_at=due,
            state="recorded",
            outcome=body.outcome,
            recorded_at=now,
        )

    return unit


def _recordable(
    ctx: ReferralContext, session: Session, referral: Referral, role: Role, body: FollowUpIn
) -> tuple[_Finished, dt.datetime]:
    """The finished pathway and when the check falls due; refuses a check that cannot be recorded now."""
    if role is not Role.REQUESTER:
        raise Conflict("follow-ups are recorded by the agency that started the pathway")
    if referral.pathway_id is None:
        raise InvalidRequest("this referral is not a step of a pathway: follow-ups are for pathways")
    steps = list(session.exec(select(Referral).where(col(Referral.pathway_id) == referral.pathway_id)).all())
    finished = _finished(steps)
    if finished is None:
        raise Conflict("the pathway has steps still open, or none completed: its follow-ups have not begun")
    if finished.last.id != referral.id or referral.completed_at is None:
        raise InvalidRequest(f"record the pathway's follow-ups on its step completed last, {finished.last.id}")
    due = add_months(referral.completed_at, body.checkpoint_months)
    if ctx.clock() < due - EARLY:
        raise InvalidRequest(f"the {body.checkpoint_months}-month follow-up falls due on {due.date().isoformat()}")
    if body.checkpoint_months in _recorded(session, ctx.codec, referral.id):
        raise Conflict(f"the {body.checkpoint_months}-month follow-up is recorded already")
    return finished, due


def _sealed_note(ctx: ReferralContext, session: Session, referral: Referral, note: str | None) -> bytes | None:
    if note is None:
        return None
    subject = session.get(Subject, referral.subject_id)
    if subject is None or subject.wrapped_key is None:  # the note would be lost: say so rather than drop it
        raise SubjectErased("the subject of this referral was erased; a note cannot be sealed for them")
    key = ctx.master_key.unwrap(subject.wrapped_key, subject.id)
    return key.seal(
        note.encode(), subject_id=subject.id, referral_id=referral.id, field=f"note:{referral.last_seq + 1}"
    )


def _state(recorded: bool, due: dt.datetime, now: dt.datetime) -> State:
    if recorded:
        return "recorded"
    if now > due:
        return "overdue"
    return "due" if now >= due - EARLY else "upcoming"


def follow_up_tasks(ctx: ReferralContext, *, agency: str) -> FollowUpTasks:
    """Every follow-up check of the pathways ``agency`` started that have finished, the soonest due first."""
    now = ctx.clock()
    with ctx.read() as session:
        started = (
            select(Referral.pathway_id)
            .where(col(Referral.from_agency) == agency, col(Referral.pathway_id).is_not(None))
            .where(col(Referral.parent_referral_id).is_(None))  # its own steps, not a forward's child it made
        )
        rows = session.exec(select(Referral).where(col(Referral.pathway_id).in_(started))).all()
        pathways: dict[str, list[Referral]] = {}
        for row in rows:
            pathways.setdefault(str(row.pathway_id), []).append(row)
        tasks = []
        for steps in pathways.values():
            finished = _finished(steps)
            if finished is None or finished.last.completed_at is None:
                continue
            recorded = _recorded(session, ctx.codec, finished.last.id)
            for months in FOLLOW_UP_MONTHS:
                due = add_months(finished.last.completed_at, months)
                outcome, at = recorded.get(months, (None, None))
                state = _state(outcome is not None, due, now)
                tasks.append(
                    FollowUpTask(
                        pathway_id=finished.pathway_id,
                        pathway_template=finished.template,
                        referral_id=finished.last.id,
                        checkpoint_months=months,
                        due_at=due,
                        state=state,
                        outcome=outcome,
                        recorded_at=at,
                    )
                )
    return FollowUpTasks(items=sorted(tasks, key=lambda t: (t.due_at, t.pathway_id, t.checkpoint_months)))
