"""The lifecycle state machine, exhaustively: every action x every status x every role.

The expectation below is written out from DESIGN.md's table independently of the RULES in the module,
so a wrong rule shows up as a mismatch rather than being checked against itself.
"""

from __future__ import annotations

import itertools

import pytest

from rujukan.core.lifecycle import (
    RULES,
    Action,
    IllegalAction,
    LifecycleError,
    MissingFields,
    NotAParty,
    Role,
    Status,
    UnexpectedFields,
    allowed_actions,
    created_status,
    decide,
    role_of,
    transition_for_event,
)

REQ, RESP = Role.REQUESTER, Role.RESPONDER
ANY_STATUS = [s.value for s in Status]
OPEN = ["planned", "requested", "received", "accepted", "in_progress", "on_hold"]
# action: (roles, from statuses, to status or None for unchanged, required fields)
TABLE: dict[str, tuple[set[Role], list[str], str | None, set[str]]] = {
    "send": ({REQ}, ["planned"], "requested", set()),
    "acknowledge": ({RESP}, ["requested"], "received", set()),
    "accept": ({RESP}, ["requested", "received"], "accepted", set()),
    "reject": ({RESP}, ["requested", "received"], "rejected", {"reason_code"}),
    "start": ({RESP}, ["accepted", "on_hold"], "in_progress", set()),
    "hold": ({RESP}, ["in_progress"], "on_hold", {"reason_code"}),
    "complete": ({RESP}, ["accepted", "in_progress"], "completed", {"outcome"}),
    "fail": ({RESP}, ["accepted", "in_progress", "on_hold"], "failed", {"reason_code"}),
    "cancel": ({REQ}, OPEN, "cancelled", {"reason_code"}),
    "forward": ({RESP}, ["requested", "received", "accepted"], "forwarded", {"to_agency", "reason_code"}),
    "note": ({REQ, RESP}, ANY_STATUS, None, {"note"}),
}


def fields_for(action: Action) -> frozenset[str]:
    """Exactly what the action takes: its required fields and the optional note."""
    return frozenset(TABLE[action.value][3] | {"note"})


def test_the_table_covers_all_eleven_actions() -> None:
    assert set(TABLE) == {a.value for a in Action} == {a.value for a in RULES}


@pytest.mark.parametrize(("action", "status", "role"), list(itertools.product(Action, Status, Role)))
def test_every_action_in_every_status_for_every_role(action: Action, status: Status, role: Role) -> None:
    roles, sources, target, _ = TABLE[action.value]
    if role is Role.THIRD_PARTY:
        with pytest.raises(NotAParty):
            decide(action, status=status, role=role, given=fields_for(action))
    elif role in roles and status.value in sources:
        transition = decide(action, status=status, role=role, given=fields_for(action))
        assert transition.target.value == (target or status.value)
        assert transition.source is status
    else:
        with pytest.raises(IllegalAction) as info:
            decide(action, status=status, role=role, given=fields_for(action))
        assert info.value.allowed == allowed_actions(status, role)
        assert action not in info.value.allowed
        assert status.value in str(info.value)


@pytest.mark.parametrize(("status", "role"), list(itertools.product(Status, [REQ, RESP])))
def test_allowed_actions_match_the_table(status: Status, role: Role) -> None:
    expected = [a for a, (roles, sources, _, _) in TABLE.items() if role in roles and status.value in sources]
    assert [a.value for a in allowed_actions(status, role)] == expected


@pytest.mark.parametrize("status", ["rejected", "completed", "failed", "cancelled", "forwarded"])
def test_terminal_statuses_take_notes_only(status: str) -> None:
    assert allowed_actions(Status(status), REQ) == [Action.NOTE]
    assert allowed_actions(Status(status), RESP) == [Action.NOTE]


@pytest.mark.parametrize("action", [a for a in Action if TABLE[a.value][3]])
def test_required_fields_are_enforced(action: Action) -> None:
    roles, sources, _, required = TABLE[action.value]
    role = next(iter(roles))
    with pytest.raises(MissingFields) as info:
        decide(action, status=Status(sources[0]), role=role, given=frozenset())
    assert set(info.value.missing) == required


@pytest.mark.parametrize("action", list(Action))
def test_fields_an_action_does_not_take_are_refused(action: Action) -> None:
    roles, sources, _, required = TABLE[action.value]
    unused = {"reason_code", "outcome", "to_agency"} - required
    with pytest.raises(UnexpectedFields) as info:
        decide(action, status=Status(sources[0]), role=next(iter(roles)), given=frozenset(required | unused))
    assert set(info.value.unexpected) == unused


def test_illegal_action_message_lists_the_allowed_ones() -> None:
    with pytest.raises(
        IllegalAction,
        match="cannot start a referral that is requested; allowed: acknowledge, accept, reject, forward, note",
    ):
        decide(Action.START, status=Status.REQUESTED, role=RESP)


def test_events_replay_along_a_full_journey() -> None:
    status = transition_for_event("ReferralCreated", status=None, role=REQ)
    journey = [
        ("ReferralAcknowledged", RESP),
        ("ReferralAccepted", RESP),
        ("ReferralStarted", RESP),
        ("ReferralPutOnHold", RESP),
        ("ReferralNoteAdded", REQ),
        ("SubjectErased", REQ),
        ("ReferralStarted", RESP),
        ("ReferralCompleted", RESP),
        ("ReferralNoteAdded", RESP),
    ]
    for event_type, role in journey:
        status = transition_for_event(event_type, status=status, role=role)
    assert status is Status.COMPLETED


def test_a_planned_referral_waits_for_its_send_before_the_receiver_can_answer() -> None:
    status = created_status({"planned_for": "2027-01-01T01:00:00+00:00"})
    assert status is Status.PLANNED
    assert created_status({"planned_for": None}) is Status.REQUESTED
    assert created_status({}) is Status.REQUESTED  # ReferralCreated before v4
    assert allowed_actions(status, RESP) == [Action.NOTE]
    assert allowed_actions(status, REQ) == [Action.SEND, Action.CANCEL, Action.NOTE]
    with pytest.raises(LifecycleError):
        transition_for_event("ReferralAccepted", status=status, role=RESP)
    status = transition_for_event("ReferralSent", status=status, role=REQ)
    assert status is Status.REQUESTED
    with pytest.raises(LifecycleError):  # sent once: a second send contradicts the chain
        transition_for_event("ReferralSent", status=status, role=REQ)


def test_a_follow_up_leaves_a_completed_referral_completed() -> None:
    assert transition_for_event("FollowUpRecorded", status=Status.COMPLETED, role=REQ) is Status.COMPLETED


@pytest.mark.parametrize(
    ("event_type", "status", "role"),
    [
        ("ReferralSent", Status.PLANNED, RESP),  # only the requester sends
        ("FollowUpRecorded", Status.IN_PROGRESS, REQ),  # a follow-up comes after completion
        ("FollowUpRecorded", Status.COMPLETED, RESP),  # by the agency that ran the pathway
        ("ReferralCreated", Status.REQUESTED, REQ),  # created twice
        ("ReferralCreated", None, RESP),  # created by the wrong side
        ("ReferralAccepted", None, RESP),  # before creation
        ("ReferralAccepted", Status.REQUESTED, REQ),  # wrong actor
        ("ReferralCompleted", Status.REJECTED, RESP),  # after a terminal status
        ("ReferralNoteAdded", Status.REQUESTED, Role.THIRD_PARTY),  # not a party
        ("SlaBreached", Status.REQUESTED, REQ),  # not on the referral chain
    ],
)
def test_events_that_contradict_the_state_machine_are_refused(
    event_type: str, status: Status | None, role: Role
) -> None:
    with pytest.raises(LifecycleError):
        transition_for_event(event_type, status=status, role=role)


def test_the_role_of_an_agency_follows_the_referral_direction() -> None:
    parties = {"requester": "LAPAS-CIPINANG", "responder": "BAPAS-JAKTIM"}
    assert role_of("LAPAS-CIPINANG", **parties) is Role.REQUESTER
    assert role_of("BAPAS-JAKTIM", **parties) is Role.RESPONDER
    assert role_of("KEMENSOS-HANDAYANI", **parties) is Role.THIRD_PARTY
