"""The FHIR intake as pure logic: a Bundle or a Task changed anywhere into any JSON is refused with an
InvalidRequest (never another exception, which would be a 500), and the mapping of a good one holds."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rujukan.core.lifecycle import Action
from rujukan.referral.errors import Conflict, InvalidRequest
from rujukan.referral.fhir import codes, intake
from tests.referral.fhir_bundles import referral_bundle

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
CURRENT_TASK: dict[str, Any] = {
    "resourceType": "Task",
    "id": "7f55f249-2c38-4178-8b0b-6c522f1b4f45",
    "status": "in-progress",
    "businessStatus": codes.coding("rujukan-status", "in_progress"),
    "intent": "order",
    "focus": {"reference": "ServiceRequest/7f55f249-2c38-4178-8b0b-6c522f1b4f45", "type": "ServiceRequest"},
    "for": {"reference": "Patient/sub-0123456789abcdef0123", "type": "Patient"},
    "requester": {"reference": "Organization/LAPAS-CIPINANG", "type": "Organization"},
    "owner": {"reference": "Organization/RSUD-KRAMATJATI", "type": "Organization"},
    "note": [{"text": "first", "authorReference": {"reference": "Organization/RSUD-KRAMATJATI"}}],
}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


def _replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    changed = copy.deepcopy(document)
    target = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return changed


BUNDLE = referral_bundle(requester="LAPAS-CIPINANG", owner="RSUD-KRAMATJATI")
BUNDLE_PATHS = _paths(BUNDLE)
TASK_PATHS = _paths(CURRENT_TASK)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(BUNDLE_PATHS), JSON)
def test_a_bundle_broken_anywhere_is_an_invalid_request_or_a_create(path: tuple[Any, ...], value: Any) -> None:
    """Only InvalidRequest may come out (anything else is a 500); what gets through is the same create, bar
    the one value (a random value cannot name another owner: "Organization/" is longer than it)."""
    try:
        request = intake.create_request(intake.read_bundle(_replaced(BUNDLE, path, value)), agency="LAPAS-CIPINANG")
    except InvalidRequest:
        return
    assert request.to_agency == "RSUD-KRAMATJATI"


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(TASK_PATHS), JSON)
def test_a_task_changed_anywhere_is_an_invalid_request_or_one_action(path: tuple[Any, ...], value: Any) -> None:
    """Only InvalidRequest or Conflict may come out (anything else is a 500)."""
    try:
        intake.change_of(CURRENT_TASK, _replaced(CURRENT_TASK, path, value))
    except (InvalidRequest, Conflict):
        return


OPERATIONS = st.fixed_dictionaries(
    {
        "op": st.sampled_from(["add", "replace", "remove", "test", "move"]),
        "path": st.sampled_from([*intake.PATCHABLE, "/note/-", "/note/0", "/for", "/status/x", ""]),
    },
    optional={"value": JSON | st.just(codes.coding("rujukan-status", "accepted")) | st.just({"text": "x" * 4001})},
)


@settings(max_examples=500, deadline=None)
@given(st.lists(OPERATIONS, min_size=1, max_size=4))
def test_any_patch_is_refused_or_becomes_at_most_one_action(operations: list[dict[str, Any]]) -> None:
    """Patches of the members a party may change, with any values: refused (InvalidRequest or Conflict),
    or the Task they make is turned into at most one action; nothing else comes out."""
    try:
        change = intake.change_of(CURRENT_TASK, intake.apply_patch(CURRENT_TASK, operations))
    except (InvalidRequest, Conflict):
        return
    assert change is None or change.action in Action


def test_the_good_bundle_maps_to_the_native_create() -> None:
    request = intake.create_request(intake.read_bundle(BUNDLE), agency="LAPAS-CIPINANG")
    assert (request.to_agency, request.service_type, request.urgency) == ("RSUD-KRAMATJATI", "mental_health", "urgent")
    assert request.subject.nik == "3175010101900099"
    assert request.subject.ihs_number == "P02478375538"
    assert request.subject.category == "violence_victim_woman"
    assert request.consent is not None
    assert request.consent.given_by == "subject"


@pytest.mark.parametrize(
    ("wanted", "action", "fields"),
    [
        ({"status": "on-hold", "statusReason": codes.coding("rujukan-reason", "other")}, Action.HOLD, {"reason_code"}),
        ({"note": [{"text": "first"}, {"text": "second"}]}, Action.NOTE, {"note"}),
        (
            {
                "owner": {"reference": "Organization/BAPAS-JAKTIM"},
                "statusReason": codes.coding("rujukan-reason", "other"),
            },
            Action.FORWARD,
            {"to_agency", "reason_code"},
        ),
        (
            {"status": "failed", "statusReason": codes.coding("rujukan-reason", "subject_unreachable")},
            Action.FAIL,
            {"reason_code"},
        ),
    ],
)
def test_a_changed_task_is_the_action_with_only_its_fields(
    wanted: dict[str, Any], action: Action, fields: set[str]
) -> None:
    change = intake.change_of(CURRENT_TASK, {**CURRENT_TASK, **wanted})
    assert change is not None
    assert change.action is action
    assert change.body.given() == fields


def test_a_stale_status_reason_does_not_ride_on_an_action_that_takes_none() -> None:
    held = {**CURRENT_TASK, "status": "on-hold", "statusReason": codes.coding("rujukan-reason", "other")}
    change = intake.change_of(held, {**held, "status": "in-progress"})  # the client sends the reason back
    assert change is not None
    assert change.action is Action.START
    assert change.body.given() == frozenset()
