"""Rujukan's vocabulary in FHIR R4: the published CodeSystems, the extensions, and the maps between our
statuses and urgencies and FHIR's Task status, ServiceRequest status and request priority.

The canonical URLs are identifiers under ``https://rujukan.id/fhir/``; the CodeSystems are served at
``/fhir/r4/CodeSystem/{id}``. The NIK and IHS number use the identifier systems SATUSEHAT uses.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from rujukan.core.lifecycle import Status
from rujukan.core.vocabulary import (
    AgencyKind,
    ConsentGiver,
    LegalBasis,
    Outcome,
    ReasonCode,
    ServiceType,
    SubjectCategory,
    Urgency,
)

FHIR_VERSION = "4.0.1"
BASE = "https://rujukan.id/fhir"
NIK_SYSTEM = "https://fhir.kemkes.go.id/id/nik"
IHS_SYSTEM = "https://fhir.kemkes.go.id/id/ihs-number"
CASE_SYSTEM = f"{BASE}/sid/case"


def extension_url(name: str) -> str:
    return f"{BASE}/StructureDefinition/{name}"


LEGAL_BASIS = extension_url("legal-basis")  # ServiceRequest, valueCode
CONSENT = extension_url("consent")  # ServiceRequest: givenBy (valueCode), recordedAt (valueDateTime)
CASE = extension_url("case")  # ServiceRequest, valueIdentifier (system CASE_SYSTEM)
CONTINUES = extension_url("continues")  # ServiceRequest, valueReference to the ServiceRequest it continues
PARENT = extension_url("parent-referral")  # ServiceRequest, valueReference to the re-referred ServiceRequest
SUBJECT_CATEGORY = extension_url("subject-category")  # Patient, valueCode
REGION_CODE = extension_url("region-code")  # Patient, valueCode (BPS/Kemendagri kode wilayah)
PLANNED_FOR = extension_url("planned-for")  # Task, valueDateTime: when a planned referral is sent
ALLOWED_ACTION = extension_url("allowed-action")  # Task, valueCode, repeated: what the reader may do now


class Tag(StrEnum):
    ERASED = "erased"  # Patient.meta.tag: the subject was erased (crypto-shredded); only attributes are left


class OutputType(StrEnum):
    OUTCOME = "outcome"  # valueCodeableConcept from the outcome CodeSystem (complete)
    FORWARDED_TO = "forwarded-to"  # valueReference to the child Task (forward)


CODE_SYSTEMS: dict[str, tuple[str, type[StrEnum]]] = {
    "rujukan-status": ("Rujukan referral status (Task.businessStatus)", Status),
    "rujukan-reason": ("Rujukan reason code (Task.statusReason)", ReasonCode),
    "rujukan-outcome": ("Rujukan outcome (Task.output)", Outcome),
    "rujukan-output-type": ("Rujukan Task output type", OutputType),
    "rujukan-service-type": ("Rujukan service type (ServiceRequest.category)", ServiceType),
    "rujukan-subject-category": ("Rujukan subject category", SubjectCategory),
    "rujukan-legal-basis": ("Legal basis of the processing (UU PDP No. 27/2022)", LegalBasis),
    "rujukan-consent-giver": ("Who gave consent", ConsentGiver),
    "rujukan-agency-kind": ("Kind of agency (Organization.type)", AgencyKind),
    "rujukan-tag": ("Rujukan resource tags (meta.tag)", Tag),
}


def system(code_system_id: str) -> str:
    return f"{BASE}/CodeSystem/{code_system_id}"


STATUS_SYSTEM = system("rujukan-status")
REASON_SYSTEM = system("rujukan-reason")
OUTCOME_SYSTEM = system("rujukan-outcome")
OUTPUT_TYPE_SYSTEM = system("rujukan-output-type")
SERVICE_TYPE_SYSTEM = system("rujukan-service-type")
TAG_SYSTEM = system("rujukan-tag")


def coding(code_system_id: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system(code_system_id), "code": code, "display": display(code)}]}


def display(code: str) -> str:
    return code.replace("_", " ").replace("-", " ").capitalize()


def code_system(code_system_id: str) -> dict[str, Any]:
    title, codes = CODE_SYSTEMS[code_system_id]
    return {
        "resourceType": "CodeSystem",
        "id": code_system_id,
        "url": system(code_system_id),
        "name": "".join(part.capitalize() for part in code_system_id.split("-")),
        "title": title,
        "status": "active",
        "publisher": "Rujukan",
        "content": "complete",
        "caseSensitive": True,
        "count": len(codes),
        "concept": [{"code": c.value, "display": display(c.value)} for c in codes],
    }


# Our status -> Task.status. A forwarded referral's Task is cancelled (businessStatus says forwarded; its
# output names the Task of the next agency); a planned one is a draft.
TASK_STATUS: dict[Status, str] = {
    Status.PLANNED: "draft",
    Status.REQUESTED: "requested",
    Status.RECEIVED: "received",
    Status.ACCEPTED: "accepted",
    Status.REJECTED: "rejected",
    Status.IN_PROGRESS: "in-progress",
    Status.ON_HOLD: "on-hold",
    Status.COMPLETED: "completed",
    Status.FAILED: "failed",
    Status.CANCELLED: "cancelled",
    Status.FORWARDED: "cancelled",
}
# Task.status asked for -> our status (forwarded is asked for by changing Task.owner)
STATUS_OF_TASK: dict[str, Status] = {
    fhir: ours for ours, fhir in TASK_STATUS.items() if ours not in (Status.FORWARDED, Status.PLANNED)
}
SERVICE_REQUEST_STATUS: dict[Status, str] = {
    Status.PLANNED: "draft",
    Status.REQUESTED: "active",
    Status.RECEIVED: "active",
    Status.ACCEPTED: "active",
    Status.IN_PROGRESS: "active",
    Status.ON_HOLD: "on-hold",
    Status.COMPLETED: "completed",
    Status.REJECTED: "revoked",
    Status.FAILED: "revoked",
    Status.CANCELLED: "revoked",
    Status.FORWARDED: "revoked",
}
PRIORITY: dict[Urgency, str] = {Urgency.ROUTINE: "routine", Urgency.URGENT: "urgent", Urgency.EMERGENCY: "stat"}
URGENCY_OF_PRIORITY: dict[str, Urgency] = {
    "routine": Urgency.ROUTINE,
    "urgent": Urgency.URGENT,
    "asap": Urgency.EMERGENCY,
    "stat": Urgency.EMERGENCY,
}
