"""A referral as FHIR R4 resources (plain JSON): its Task (the lifecycle), its ServiceRequest (what is
asked) and its Patient, all built from the party's view of the referral; and the Bundles around them.

A referral's Task and ServiceRequest have the referral's id; its Patient has the reader's own alias of
the subject (``identity``), so two agencies name one person differently, as in the native API. Only a
party ever gets these resources: everything here comes from ``ReferralView``, which only parties get.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rujukan.core.lifecycle import Status
from rujukan.core.vocabulary import Urgency
from rujukan.referral.fhir import codes
from rujukan.referral.views import HistoryEntry, ReferralView

REASON_EVENTS = frozenset(
    {"ReferralRejected", "ReferralPutOnHold", "ReferralFailed", "ReferralCancelled", "ReferralForwarded"}
)
REASON_STATUSES = frozenset({Status.REJECTED, Status.ON_HOLD, Status.FAILED, Status.CANCELLED, Status.FORWARDED})
STARTED_EVENT = "ReferralStarted"
TERMINAL_EVENTS = frozenset(
    {"ReferralRejected", "ReferralCompleted", "ReferralFailed", "ReferralCancelled", "ReferralForwarded"}
)


def patient_id(subject_alias: str) -> str:
    """A subject's alias as a FHIR id (ids allow no underscore): ``sub_…`` becomes ``sub-…``."""
    return subject_alias.replace("_", "-", 1)


def subject_alias(patient_id: str) -> str:
    """The alias of a Patient id; the native API's form (``sub_…``) reads too."""
    return patient_id.replace("-", "_", 1) if patient_id.startswith("sub-") else patient_id


def instant(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def organization_ref(code: str) -> dict[str, str]:
    return {"reference": f"Organization/{code}", "type": "Organization"}


def version(view: ReferralView) -> str:
    """The resource version: the referral's last event number (a note, too, makes a new version)."""
    return str(max((entry.seq for entry in view.history), default=1))


def meta(view: ReferralView) -> dict[str, str]:
    return {"versionId": version(view), "lastUpdated": instant(view.updated_at)}


def task(view: ReferralView) -> dict[str, Any]:
    status = Status(view.status)
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "id": view.id,
        "meta": meta(view),
        "status": codes.TASK_STATUS[status],
        "businessStatus": codes.coding("rujukan-status", status.value),
        "intent": "order",
        "priority": codes.PRIORITY[Urgency(view.urgency)],
        "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
        "focus": {"reference": f"ServiceRequest/{view.id}", "type": "ServiceRequest"},
        "for": {"reference": f"Patient/{patient_id(view.subject_id)}", "type": "Patient"},
        "authoredOn": instant(view.created_at),
        "lastModified": instant(view.updated_at),
        "requester": organization_ref(view.from_agency),
        "owner": organization_ref(view.to_agency),
    }
    extensions = [{"url": codes.ALLOWED_ACTION, "valueCode": action} for action in view.allowed_actions]
    if view.planned_for is not None and status is Status.PLANNED:  # once sent, the time it was planned for is history
        extensions.insert(0, {"url": codes.PLANNED_FOR, "valueDateTime": instant(view.planned_for)})
    if extensions:
        resource["extension"] = extensions
    reason = _last_reason(view.history)
    if reason is not None and status in REASON_STATUSES:
        resource["statusReason"] = codes.coding("rujukan-reason", reason)
    period = _execution_period(view.history)
    if period:
        resource["executionPeriod"] = period
    notes = [_annotation(entry) for entry in view.history if entry.note]
    if notes:
        resource["note"] = notes
    outputs = _outputs(view.history)
    if outputs:
        resource["output"] = outputs
    return resource


def _last_reason(history: list[HistoryEntry]) -> str | None:
    for entry in reversed(history):
        if entry.event_type in REASON_EVENTS and entry.reason_code:
            return entry.reason_code
    return None


def _execution_period(history: list[HistoryEntry]) -> dict[str, str]:
    period = {}
    started = next((e for e in history if e.event_type == STARTED_EVENT), None)
    ended = next((e for e in history if e.event_type in TERMINAL_EVENTS), None)
    if started is not None:
        period["start"] = instant(started.occurred_at)
    if ended is not None:
        period["end"] = instant(ended.occurred_at)
    return period


def _annotation(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "authorReference": organization_ref(entry.actor_agency),
        "time": instant(entry.occurred_at),
        "text": entry.note,
    }


def _outputs(history: list[HistoryEntry]) -> list[dict[str, Any]]:
    found = []
    for entry in history:
        if entry.event_type == "ReferralCompleted" and entry.outcome:
            found.append(
                {
                    "type": codes.coding("rujukan-output-type", codes.OutputType.OUTCOME.value),
                    "valueCodeableConcept": codes.coding("rujukan-outcome", entry.outcome),
                }
            )
        if entry.event_type == "ReferralForwarded" and entry.child_referral_id:
            found.append(
                {
                    "type": codes.coding("rujukan-output-type", codes.OutputType.FORWARDED_TO.value),
                    "valueReference": {"reference": f"Task/{entry.child_referral_id}", "type": "Task"},
                }
            )
    return found


def service_request(view: ReferralView) -> dict[str, Any]:
    status = Status(view.status)
    extensions: list[dict[str, Any]] = [
        {"url": codes.LEGAL_BASIS, "valueCode": view.legal_basis},
        {"url": codes.CASE, "valueIdentifier": {"system": codes.CASE_SYSTEM, "value": view.case_id}},
    ]
    if view.consent is not None:
        extensions.append(
            {
                "url": codes.CONSENT,
                "extension": [
                    {"url": "givenBy", "valueCode": view.consent.given_by},
                    {"url": "recordedAt", "valueDateTime": instant(view.consent.recorded_at)},
                ],
            }
        )
    for url, linked in ((codes.CONTINUES, view.continues_referral_id), (codes.PARENT, view.parent_referral_id)):
        if linked:
            extensions.append({"url": url, "valueReference": {"reference": f"ServiceRequest/{linked}"}})
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": view.id,
        "meta": meta(view),
        "extension": extensions,
        "status": codes.SERVICE_REQUEST_STATUS[status],
        "intent": "order",
        "category": [codes.coding("rujukan-service-type", view.service_type)],
        "priority": codes.PRIORITY[Urgency(view.urgency)],
        "subject": {"reference": f"Patient/{patient_id(view.subject_id)}", "type": "Patient"},
        "authoredOn": instant(view.created_at),
        "requester": organization_ref(view.from_agency),
        "performer": [organization_ref(view.to_agency)],
    }
    if view.reason:
        resource["reasonCode"] = [{"text": view.reason}]
    return resource


def patient(view: ReferralView) -> dict[str, Any]:
    """The subject as this referral holds them. After erasure only the attributes are left (and a tag)."""
    subject = view.subject
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": patient_id(subject.subject_id),
        "meta": {"lastUpdated": instant(view.updated_at)},
        "extension": [
            {"url": codes.SUBJECT_CATEGORY, "valueCode": subject.category},
            {"url": codes.REGION_CODE, "valueCode": subject.region_code},
        ],
        "gender": subject.sex,
    }
    if subject.erased:
        resource["meta"]["tag"] = [
            {"system": codes.TAG_SYSTEM, "code": codes.Tag.ERASED.value, "display": "Data erased"}
        ]
        return resource
    identifiers = [
        {"use": "official", "system": system, "value": value}
        for system, value in ((codes.NIK_SYSTEM, subject.nik), (codes.IHS_SYSTEM, subject.ihs_number))
        if value
    ]
    if identifiers:
        resource["identifier"] = identifiers
    if subject.full_name:
        resource["name"] = [{"use": "official", "text": subject.full_name}]
    if subject.phone:
        resource["telecom"] = [{"system": "phone", "value": subject.phone}]
    if subject.birth_date:
        resource["birthDate"] = subject.birth_date
    if subject.address:
        resource["address"] = [{"use": "home", "text": subject.address}]
    return resource


def organization(code: str, name: str, kind: str, region_code: str) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "id": code,
        "identifier": [{"system": f"{codes.BASE}/sid/agency", "value": code}],
        "active": True,
        "type": [codes.coding("rujukan-agency-kind", kind)],
        "name": name,
        "extension": [{"url": codes.REGION_CODE, "valueCode": region_code}],
    }


def searchset(resources: list[dict[str, Any]], *, base: str, self_url: str, next_url: str | None) -> dict[str, Any]:
    links = [{"relation": "self", "url": self_url}]
    if next_url is not None:
        links.append({"relation": "next", "url": next_url})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
            for resource in resources
        ],
    }


def operation_outcome(
    severity: str, code: str, diagnostics: str, expressions: list[str] | None = None
) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expressions:
        issue["expression"] = expressions
    return {"resourceType": "OperationOutcome", "issue": [issue]}
