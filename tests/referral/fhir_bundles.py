"""FHIR test material: a transaction Bundle as a health system would send it, and the check that a
resource validates with the ``fhir.resources`` R4B models (written elsewhere, from the FHIR spec)."""

from __future__ import annotations

import importlib
from typing import Any

from rujukan.referral.fhir import codes

PATIENT_URL = "urn:uuid:0b8a6f0e-2c52-4bb4-9a51-6f1f4f5bb001"
SERVICE_REQUEST_URL = "urn:uuid:0b8a6f0e-2c52-4bb4-9a51-6f1f4f5bb002"
TASK_URL = "urn:uuid:0b8a6f0e-2c52-4bb4-9a51-6f1f4f5bb003"


def referral_bundle(
    *, requester: str, owner: str, nik: str = "3175010101900099", service_type: str = "mental_health", **task: Any
) -> dict[str, Any]:
    patient = {
        "resourceType": "Patient",
        "identifier": [
            {"use": "official", "system": codes.NIK_SYSTEM, "value": nik},
            {"use": "official", "system": codes.IHS_SYSTEM, "value": "P02478375538"},
        ],
        "name": [{"use": "official", "text": "Siti Aminah Fiktif"}],
        "gender": "female",
        "birthDate": "1994-05-17",
        "telecom": [{"system": "phone", "value": "+62 812 0000 0099"}],
        "address": [{"use": "home", "line": ["Jl. Contoh No. 1"], "city": "Jakarta Timur"}],
        "extension": [
            {"url": codes.SUBJECT_CATEGORY, "valueCode": "violence_victim_woman"},
            {"url": codes.REGION_CODE, "valueCode": "31.75"},
        ],
    }
    service_request = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": codes.SERVICE_TYPE_SYSTEM, "code": service_type}]}],
        "priority": "urgent",
        "subject": {"reference": PATIENT_URL},
        "requester": {"reference": f"Organization/{requester}"},
        "performer": [{"reference": f"Organization/{owner}"}],
        "reasonCode": [{"text": "Konseling trauma setelah kekerasan dalam rumah tangga"}],
        "extension": [
            {"url": codes.LEGAL_BASIS, "valueCode": "consent"},
            {
                "url": codes.CONSENT,
                "extension": [
                    {"url": "givenBy", "valueCode": "subject"},
                    {"url": "recordedAt", "valueDateTime": "2026-12-01T09:00:00+07:00"},
                ],
            },
        ],
    }
    task_resource = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "focus": {"reference": SERVICE_REQUEST_URL},
        "for": {"reference": PATIENT_URL},
        "requester": {"reference": f"Organization/{requester}"},
        "owner": {"reference": f"Organization/{owner}"},
        **task,
    }
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": PATIENT_URL, "resource": patient, "request": {"method": "POST", "url": "Patient"}},
            {
                "fullUrl": SERVICE_REQUEST_URL,
                "resource": service_request,
                "request": {"method": "POST", "url": "ServiceRequest"},
            },
            {"fullUrl": TASK_URL, "resource": task_resource, "request": {"method": "POST", "url": "Task"}},
        ],
    }


def validated(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` after the R4B model of its type accepted it (raises pydantic's ValidationError)."""
    kind = resource["resourceType"]
    module = importlib.import_module(f"fhir.resources.R4B.{kind.lower()}")
    getattr(module, kind).model_validate(resource)
    if kind == "Bundle":
        for entry in resource.get("entry", []):
            if "resource" in entry:
                validated(entry["resource"])
    return resource
