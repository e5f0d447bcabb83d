"""The referral lifecycle (DESIGN.md section 2) as a pure state machine.

Statuses follow HL7 FHIR Task (``planned`` is FHIR's ``draft``: a referral not sent yet). Every action
but ``note`` moves a referral from one status to another and may be taken only by one party: the
requester (the referring agency) or the responder (the receiving agency). Terminal statuses accept
nothing but notes. The referral service decides with :func:`decide`; every reader of the log (tracker,
notifier, audit) checks events against the same table through :func:`rujukan.core.chain.follow`, which
uses :func:`transition_for_event`.

No I/O and no framework imports here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

from rujukan.core.errors import RujukanError


class Status(StrEnum):
    PLANNED = "planned"  # a step of a pathway (or a referral made ahead), sent at its planned time
    REQUESTED = "requested"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    FORWARDED = "forwarded"


class Action(StrEnum):
    SEND = "send"
    ACKNOWLEDGE = "acknowledge"
    ACCEPT = "accept"
    REJECT = "reject"
    START = "start"
    HOLD = "hold"
    COMPLETE = "complete"
    FAIL = "fail"
    CANCEL = "cancel"
    FORWARD = "forward"
    NOTE = "note"


class Role(StrEnum):
    REQUESTER = "requester"
    RESPONDER = "responder"
    THIRD_PARTY = "third_party"


TERMINAL = frozenset({Status.REJECTED, Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.FORWARDED})
NON_TERMINAL = frozenset(Status) - TERMINAL
PARTIES = frozenset({Role.REQUESTER, Role.RESPONDER})


@dataclass(frozen=True, slots=True)
class Rule:
    """Who may take an action, from which statuses, to which status, needing which body fields."""

    action: Action
    event_type: str
    roles: frozenset[Role]
    sources: frozenset[Status]
    target: Status | None  # None: the status stays as it is (notes)
    requires: tuple[str, ...] = ()


def _rule(
    action: Action,
    event: str,
    role: Role | frozenset[Role],
    sources: frozenset[Status] | set[Status],
    target: Status | None,
    *requires: str,
) -> Rule:
    roles = frozenset({role}) if isinstance(role, Role) else role
    return Rule(action, event, roles, frozenset(sources), target, requires)


S, A, R = Status, Action, Role
RULES: dict[Action, Rule] = {
    rule.action: rule
    for rule in (
        _rule(A.SEND, "ReferralSent", R.REQUESTER, {S.PLANNED}, S.REQUESTED),
        _rule(A.ACKNOWLEDGE, "ReferralAcknowledged", R.RESPONDER, {S.REQUESTED}, S.RECEIVED),
        _rule(A.ACCEPT, "ReferralAccepted", R.RESPONDER, {S.REQUESTED, S.RECEIVED}, S.ACCEPTED),
        _rule(A.REJECT, "ReferralRejected", R.RESPONDER, {S.REQUESTED, S.RECEIVED}, S.REJECTED, "reason_code"),
        _rule(A.START, "ReferralStarted", R.RESPONDER, {S.ACCEPTED, S.ON_HOLD}, S.IN_PROGRESS),
        _rule(A.HOLD, "ReferralPutOnHold", R.RESPONDER, {S.IN_PROGRESS}, S.ON_HOLD, "reason_code"),
        _rule(A.COMPLETE, "ReferralCompleted", R.RESPONDER, {S.ACCEPTED, S.IN_PROGRESS}, S.COMPLETED, "outcome"),
        _rule(A.FAIL, "ReferralFailed", R.RESPONDER, {S.ACCEPTED, S.IN_PROGRESS, S.ON_HOLD}, S.FAILED, "reason_code"),
        _rule(A.CANCEL, "ReferralCancelled", R.REQUESTER, NON_TERMINAL, S.CANCELLED, "reason_code"),
        _rule(
            A.FORWARD,
            "ReferralForwarded",
            R.RESPONDER,
            {S.REQUESTED, S.RECEIVED, S.ACCEPTED},
            S.FORWARDED,
            "to_agency",
            "reason_code",
        ),
        _rule(A.NOTE, "ReferralNoteAdded", PARTIES, set(Status), None, "note"),
    )
}
RULE_FOR_EVENT: dict[str, Rule] = {rule.event_type: rule for rule in RULES.values()}
CREATED_EVENT = "ReferralCreated"


def created_status(record: Mapping[str, Any]) -> Status:
    """The status a ReferralCreated event starts its referral in: planned when it carries a planned send
    time (ReferralCreated v4), requested otherwise."""
    return Status.PLANNED if record.get("planned_for") is not None else Status.REQUESTED


# Events that belong to a referral's chain without being an action of a party: what happened to the
# subject's data (erasure, and the data subject's other rights). They leave the status as it is.
SUBJECT_EVENTS = (
    "SubjectErased",
    "SubjectAccessed",
    "SubjectCorrected",
    "ConsentWithdrawn",
    "SubjectRestricted",
    "SubjectRestrictionLifted",
)
NEUTRAL_EVENTS = frozenset(SUBJECT_EVENTS)
# A pathway's follow-up check, recorded by the requester on a completed referral; the status stays.
FOLLOW_UP_EVENT = "FollowUpRecorded"
# Every event type that belongs on the referral events topic (others have topics of their own).
CHAIN_EVENTS = frozenset({CREATED_EVENT, *RULE_FOR_EVENT, *NEUTRAL_EVENTS, FOLLOW_UP_EVENT})


class LifecycleError(RujukanError):
    """An action that the lifecycle does not allow."""


class NotAParty(LifecycleError):
    """The agency is neither requester nor responder. Callers answer exactly as for a missing referral."""


class IllegalAction(LifecycleError):
    """The action is not allowed for this role in this status; says what is."""

    def __init__(self, action: Action, status: Status, allowed: list[Action]) -> None:
        self.action, self.status, self.allowed = action, status, allowed
        names = ", ".join(a.value for a in allowed) or "none"
        super().__init__(f"cannot {action.value} a referral that is {status.value}; allowed: {names}")


class UnexpectedFields(LifecycleError):
    """Body fields that the action does not use (every action takes an optional note)."""

    def __init__(self, action: Action, unexpected: list[str]) -> None:
        self.action, self.unexpected = action, unexpected
        super().__init__(f"{action.value} does not take {', '.join(unexpected)}")


class MissingFields(LifecycleError):
    """The action needs body fields that were not given."""

    def __init__(self, action: Action, missing: list[str]) -> None:
        self.action, self.missing = action, missing
        super().__init__(f"{action.value} requires {', '.join(missing)}")


@dataclass(frozen=True, slots=True)
class Transition:
    """What an allowed action does: the event to record and the status afterwards."""

    action: Action
    event_type: str
    source: Status
    target: Status


def role_of(actor: str, *, requester: str, responder: str) -> Role:
    """The role an agency plays in a referral from ``requester`` to ``responder``."""
    if actor == requester:
        return Role.REQUESTER
    return Role.RESPONDER if actor == responder else Role.THIRD_PARTY


def allowed_actions(status: Status, role: Role) -> list[Action]:
    """Actions ``role`` may take on a referral in ``status``, in declaration order."""
    return [rule.action for rule in RULES.values() if role in rule.roles and status in rule.sources]


def decide(action: Action, *, status: Status, role: Role, given: frozenset[str] = frozenset()) -> Transition:
    """Check an action against the table; ``given`` names the body fields that were supplied."""
    if role is Role.THIRD_PARTY:
        raise NotAParty("agency is not a party to this referral")
    rule = RULES[action]
    if role not in rule.roles or status not in rule.sources:
        raise IllegalAction(action, status, allowed_actions(status, role))
    missing = [name for name in rule.requires if name not in given]
    if missing:
        raise MissingFields(action, missing)
    unexpected = sorted(given - set(rule.requires) - {"note"})
    if unexpected:
        raise UnexpectedFields(action, unexpected)
    return Transition(action, rule.event_type, status, rule.target or status)


def transition_for_event(event_type: str, *, status: Status | None, role: Role) -> Status:
    """The status after an event, checking it is legal for its actor; for consumers of the log.

    ``status`` is None before the first event. Raises LifecycleError for an event that contradicts the
    state machine (wrong actor, wrong status, a second creation, an action before creation).
    """
    if event_type == CREATED_EVENT:
        if status is not None:
            raise LifecycleError("ReferralCreated for a referral that already exists")
        if role is not Role.REQUESTER:
            raise LifecycleError("ReferralCreated must be recorded by the requesting agency")
        return Status.REQUESTED
    if status is None:
        raise LifecycleError(f"{event_type} before ReferralCreated")
    if event_type in NEUTRAL_EVENTS:
        return status
    if event_type == FOLLOW_UP_EVENT:
        if status is not Status.COMPLETED or role is not Role.REQUESTER:
            raise LifecycleError(
                f"a follow-up is recorded by the requester on a completed referral, not {status.value}"
            )
        return status
    return _target_of(event_type, status, role)


@cache  # the table is fixed and small; a log reader asks once per event (errors are not cached)
def _target_of(event_type: str, status: Status, role: Role) -> Status:
    rule = RULE_FOR_EVENT.get(event_type)
    if rule is None:
        raise LifecycleError(f"{event_type} is not a referral lifecycle event")
    return decide(rule.action, status=status, role=role, given=frozenset(rule.requires)).target
