"""What a FHIR client asks, in Rujukan's terms: a transaction Bundle becomes a ``CreateReferral``, and a
changed Task (by PUT, or by JSON Patch on the current one) becomes one lifecycle action.

Everything said wrong is an ``InvalidRequest`` naming the element (a FHIRPath-like location), never the
value: the values are a person's data. Elements outside the documented mapping are not stored.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from rujukan.core.lifecycle import RULES, Action, Status
from rujukan.referral.commands import ActionBody, CreateReferral
from rujukan.referral.errors import Conflict, InvalidRequest
from rujukan.referral.fhir import codes

# Where each field of CreateReferral comes from, to name it when it does not validate.
CREATE_LOCATIONS = {
    "to_agency": "Task.owner",
    "service_type": "ServiceRequest.category",
    "urgency": "ServiceRequest.priority",
    "reason": "ServiceRequest.reasonCode.text",
    "legal_basis": f"ServiceRequest.extension('{codes.LEGAL_BASIS}')",
    "consent": f"ServiceRequest.extension('{codes.CONSENT}')",
    "case_id": f"ServiceRequest.extension('{codes.CASE}')",
    "parent_referral_id": f"ServiceRequest.extension('{codes.PARENT}')",
    "continues_referral_id": f"ServiceRequest.extension('{codes.CONTINUES}')",
    "subject.full_name": "Patient.name",
    "subject.nik": f"Patient.identifier('{codes.NIK_SYSTEM}')",
    "subject.ihs_number": f"Patient.identifier('{codes.IHS_SYSTEM}')",
    "subject.birth_date": "Patient.birthDate",
    "subject.sex": "Patient.gender",
    "subject.category": f"Patient.extension('{codes.SUBJECT_CATEGORY}')",
    "subject.region_code": f"Patient.extension('{codes.REGION_CODE}')",
    "subject.phone": "Patient.telecom",
    "subject.address": "Patient.address",
}


@dataclass(frozen=True, slots=True)
class BundleEntries:
    """The three resources of a create, with where each sits in the Bundle."""

    patient: tuple[int, dict[str, Any]]
    service_request: tuple[int, dict[str, Any]]
    task: tuple[int, dict[str, Any]]
    if_none_exist: str | None


def read_bundle(bundle: Any) -> BundleEntries:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidRequest("the body must be a FHIR Bundle")
    if bundle.get("type") != "transaction":
        raise InvalidRequest("Bundle.type must be transaction")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or len(entries) != 3:
        raise InvalidRequest("Bundle.entry must hold exactly a Patient, a ServiceRequest and a Task")
    found: dict[str, tuple[int, dict[str, Any]]] = {}
    if_none_exist = None
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        if kind not in ("Patient", "ServiceRequest", "Task") or kind in found:
            raise InvalidRequest(f"Bundle.entry[{index}]: expected one each of Patient, ServiceRequest and Task")
        request = entry.get("request")
        if not isinstance(request, dict) or request.get("method") != "POST" or request.get("url") != kind:
            raise InvalidRequest(f"Bundle.entry[{index}].request must be POST {kind}")
        if kind == "Task" and request.get("ifNoneExist") is not None:
            if_none_exist = _if_none_exist(request["ifNoneExist"], index)
        assert isinstance(resource, dict)
        found[str(kind)] = (index, resource | {"_fullUrl": entry.get("fullUrl")})
    return BundleEntries(found["Patient"], found["ServiceRequest"], found["Task"], if_none_exist)


def _if_none_exist(value: Any, index: int) -> str:
    if not isinstance(value, str) or not value.startswith("identifier=") or len(value) > 200:
        raise InvalidRequest(f"Bundle.entry[{index}].request.ifNoneExist must be identifier=system|value")
    return value


def create_request(entries: BundleEntries, *, agency: str) -> CreateReferral:
    """The native create the Bundle asks for; the requester must be the calling agency."""
    (_, patient), (_, request), (_, task) = entries.patient, entries.service_request, entries.task
    fields: dict[str, Any] = {
        "to_agency": _parties(patient, request, task, agency=agency),
        "service_type": _code_in(request.get("category"), codes.SERVICE_TYPE_SYSTEM, "ServiceRequest.category"),
        "urgency": _urgency(request.get("priority")),
        "reason": _reason(request.get("reasonCode")),
        "legal_basis": _extension(request, codes.LEGAL_BASIS, "valueCode"),
        "subject": _subject(patient),
        **_links(request),
    }
    try:
        return CreateReferral.model_validate(fields)
    except ValidationError as exc:
        raise InvalidRequest(_located(exc)) from None


def _parties(patient: dict[str, Any], request: dict[str, Any], task: dict[str, Any], *, agency: str) -> str:
    """The receiver, once the three resources are checked to refer to each other and to the caller."""
    _refers_to(request.get("subject"), patient, "ServiceRequest.subject")
    _refers_to(task.get("for"), patient, "Task.for")
    _refers_to(task.get("focus"), request, "Task.focus")
    if task.get("intent") != "order" or request.get("intent") != "order":
        raise InvalidRequest("Task.intent and ServiceRequest.intent must be order")
    if task.get("status") != "requested":
        raise InvalidRequest("Task.status must be requested (a planned referral is made through /v1/referrals)")
    for location, reference in (
        ("Task.requester", task.get("requester")),
        ("ServiceRequest.requester", request.get("requester")),
    ):
        if reference is not None and organization_code(reference, location) != agency:
            raise InvalidRequest(f"{location} must be the calling agency (Organization/{agency}) or absent")
    owner = organization_code(task.get("owner"), "Task.owner")
    performers = request.get("performer") or []  # a malformed one is refused below
    if performers and (not isinstance(performers, list) or len(performers) != 1):
        raise InvalidRequest("ServiceRequest.performer must name one Organization, the Task's owner")
    if performers and organization_code(performers[0], "ServiceRequest.performer") != owner:
        raise InvalidRequest("ServiceRequest.performer must be the Task's owner")
    return owner


def _links(request: dict[str, Any]) -> dict[str, Any]:
    """Consent, and the case and referrals the new one is linked to, from the ServiceRequest's extensions."""
    fields: dict[str, Any] = {}
    consent = _extension_of(request, codes.CONSENT)
    if consent is not None:
        fields["consent"] = {
            "given_by": _extension(consent, "givenBy", "valueCode"),
            "recorded_at": _extension(consent, "recordedAt", "valueDateTime"),
        }
    case = _extension_of(request, codes.CASE)
    if case is not None:
        identifier = case.get("valueIdentifier")
        if not isinstance(identifier, dict) or identifier.get("system") != codes.CASE_SYSTEM:
            raise InvalidRequest(f"{CREATE_LOCATIONS['case_id']}.valueIdentifier.system must be {codes.CASE_SYSTEM}")
        fields["case_id"] = identifier.get("value")
    for name, url in (("continues_referral_id", codes.CONTINUES), ("parent_referral_id", codes.PARENT)):
        linked = _extension_of(request, url)
        if linked is not None:
            fields[name] = _id_in(linked.get("valueReference"), "ServiceRequest", CREATE_LOCATIONS[name])
    return fields


def _located(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error.get("loc", ()))
        where = next(
            (place for name, place in CREATE_LOCATIONS.items() if loc == name or loc.startswith(name + ".")), loc
        )
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(problems)


def _refers_to(reference: Any, target: dict[str, Any], location: str) -> None:
    full_url = target.get("_fullUrl")
    if not isinstance(reference, dict) or not full_url or reference.get("reference") != full_url:
        raise InvalidRequest(f"{location} must reference the Bundle entry's fullUrl of its {target['resourceType']}")


def organization_code(reference: Any, location: str) -> str:
    """The agency code of an ``Organization/<code>`` reference."""
    return _id_in(reference, "Organization", location)


def _id_in(reference: Any, kind: str, location: str) -> str:
    text = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(text, str) or not text.startswith(f"{kind}/") or len(text) > 200:
        raise InvalidRequest(f"{location} must be a reference {kind}/<id>")
    return text.removeprefix(f"{kind}/")


def _codings(concept: Any) -> list[dict[str, Any]]:
    if isinstance(concept, list):
        return [c for item in concept for c in _codings(item)]
    if isinstance(concept, dict) and isinstance(concept.get("coding"), list):
        return [c for c in concept["coding"] if isinstance(c, dict)]
    return []


def _code_in(concept: Any, system: str, location: str) -> str | None:
    for found in _codings(concept):
        if found.get("system") == system:
            return str(found.get("code"))
    return None if concept is None else _missing_code(location, system)


def _missing_code(location: str, system: str) -> str:
    raise InvalidRequest(f"{location} must hold a coding of {system}")


def _urgency(priority: Any) -> str:
    if priority is None:
        return "routine"
    if not isinstance(priority, str) or priority not in codes.URGENCY_OF_PRIORITY:
        raise InvalidRequest("ServiceRequest.priority must be routine, urgent, asap or stat")
    return codes.URGENCY_OF_PRIORITY[priority].value


def _reason(reason_codes: Any) -> str | None:
    if not isinstance(reason_codes, list):
        return None
    texts = [item["text"] for item in reason_codes if isinstance(item, dict) and isinstance(item.get("text"), str)]
    return "\n".join(texts) or None


def _list(value: Any) -> list[Any]:
    """A repeated element as a list (a malformed one reads as absent, and its values as missing)."""
    return value if isinstance(value, list) else []


def _extension_of(element: dict[str, Any], url: str) -> dict[str, Any] | None:
    for extension in _list(element.get("extension")):
        if isinstance(extension, dict) and extension.get("url") == url:
            return extension
    return None


def _extension(element: dict[str, Any], url: str, value: str) -> Any:
    found = _extension_of(element, url)
    return None if found is None else found.get(value)


def _subject(patient: dict[str, Any]) -> dict[str, Any]:
    subject: dict[str, Any] = {
        "full_name": _name(patient.get("name")),
        "birth_date": patient.get("birthDate"),
        "sex": _sex(patient.get("gender")),
        "category": _extension(patient, codes.SUBJECT_CATEGORY, "valueCode"),
        "region_code": _extension(patient, codes.REGION_CODE, "valueCode"),
    }
    for identifier in _list(patient.get("identifier")):
        system = identifier.get("system") if isinstance(identifier, dict) else None
        if system == codes.NIK_SYSTEM:
            subject["nik"] = identifier.get("value")
        elif system == codes.IHS_SYSTEM:
            subject["ihs_number"] = identifier.get("value")
        else:
            raise InvalidRequest(
                f"Patient.identifier: only the NIK ({codes.NIK_SYSTEM}) and the IHS number ({codes.IHS_SYSTEM})"
                " are accepted"
            )
    phones = [
        t.get("value") for t in _list(patient.get("telecom")) if isinstance(t, dict) and t.get("system") == "phone"
    ]
    if phones:
        subject["phone"] = phones[0]
    addresses = _list(patient.get("address"))
    if addresses and isinstance(addresses[0], dict):
        first = addresses[0]
        subject["address"] = first.get("text") or ", ".join(
            str(part) for part in [*_list(first.get("line")), first.get("city")] if part
        )
    return {name: value for name, value in subject.items() if value is not None}


def _sex(gender: Any) -> str:
    if gender in ("male", "female"):
        return str(gender)
    if gender is None or gender in ("other", "unknown"):
        return "unknown"  # Rujukan records female, male or unknown
    raise InvalidRequest("Patient.gender must be male, female, other or unknown")


def _name(names: Any) -> str | None:
    if not isinstance(names, list) or not names or not isinstance(names[0], dict):
        return None
    first = names[0]
    if isinstance(first.get("text"), str):
        return str(first["text"])
    parts = [*_list(first.get("given")), first.get("family")]
    return " ".join(str(part) for part in parts if part) or None


# ---------------------------------------------------------------------------------------------------
# Updates of a Task


PATCHABLE = ("/status", "/statusReason", "/businessStatus", "/output", "/owner", "/note")


def apply_patch(current: dict[str, Any], operations: Any) -> dict[str, Any]:
    """The Task after a JSON Patch (RFC 6902) limited to the members a party changes: status, statusReason,
    businessStatus, output, owner (forward) and note (append with ``/note/-``)."""
    if not isinstance(operations, list) or not operations:
        raise InvalidRequest("a JSON Patch is a non-empty array of operations")
    changed = copy.deepcopy(current)
    for index, operation in enumerate(operations):
        _apply_one(changed, index, operation)
    if changed.get("businessStatus") != current.get("businessStatus"):
        named = _status_of_business(changed.get("businessStatus"))  # the patch named Rujukan's status
        if changed.get("status") not in (current["status"], named):
            raise InvalidRequest("Task.status and Task.businessStatus name different statuses")
        changed["status"] = named
    return changed


def _status_of_business(concept: Any) -> str:
    """The Task.status of a businessStatus set by a patch (Rujukan's own status code)."""
    business = _code_in(concept, codes.STATUS_SYSTEM, "Task.businessStatus")
    if business is None or business not in {s.value for s in Status} or business in (Status.PLANNED, Status.FORWARDED):
        raise InvalidRequest(
            f"Task.businessStatus must hold a status of {codes.STATUS_SYSTEM} (to forward, change Task.owner)"
        )
    return codes.TASK_STATUS[Status(business)]


def _apply_one(changed: dict[str, Any], index: int, operation: Any) -> None:
    if not isinstance(operation, dict):
        raise InvalidRequest(f"operation {index} is not an object")
    op, path = operation.get("op"), operation.get("path")
    if not isinstance(path, str) or not any(path == p or path.startswith(p + "/") for p in PATCHABLE):
        raise InvalidRequest(f"operation {index}: only {', '.join(PATCHABLE)} may be patched")
    member, _, rest = path[1:].partition("/")
    if op == "test":
        if changed.get(member) != operation.get("value") or rest:
            raise InvalidRequest(f"operation {index}: test failed")
    elif op in ("add", "replace") and not rest:
        if "value" not in operation:
            raise InvalidRequest(f"operation {index}: {op} needs a value")
        changed[member] = operation["value"]
    elif op == "add" and member == "note" and rest == "-":
        changed["note"] = [*_list(changed.get("note")), operation.get("value")]
    elif op == "remove" and not rest and member in ("statusReason", "output"):
        changed.pop(member, None)
    else:
        raise InvalidRequest(f"operation {index}: {op} {path} is not supported")


@dataclass(frozen=True, slots=True)
class Change:
    """One lifecycle action asked for by a changed Task (the note rides along with it)."""

    action: Action
    body: ActionBody


def change_of(current: dict[str, Any], wanted: Any) -> Change | None:
    """The action that turns the ``current`` Task into ``wanted``; None when nothing changes."""
    if not isinstance(wanted, dict) or wanted.get("resourceType") != "Task":
        raise InvalidRequest("the body must be a FHIR Task")
    if wanted.get("id") not in (None, current["id"]):
        raise InvalidRequest("Task.id must be the id of the Task updated")
    if "intent" in wanted and wanted["intent"] != current["intent"]:
        raise InvalidRequest("Task.intent cannot change")
    for fixed in ("focus", "for", "requester"):
        if fixed in wanted and _reference(wanted[fixed]) != _reference(current[fixed]):
            raise InvalidRequest(f"Task.{fixed} cannot change")
    note = _new_note(current.get("note") or [], wanted.get("note") or [])
    target = _target(current, wanted)
    if target is None:
        return None if note is None else Change(Action.NOTE, _action_body(Action.NOTE, wanted, note))
    action = next(rule.action for rule in RULES.values() if rule.target is target)
    return Change(action, _action_body(action, wanted, note))


def _action_body(action: Action, wanted: dict[str, Any], note: str | None) -> ActionBody:
    """The body of ``action``: exactly the fields it needs, from the Task (the others stay as they were)."""
    fields: dict[str, Any] = {"note": note}
    requires = RULES[action].requires
    if "reason_code" in requires:
        fields["reason_code"] = _code_in(wanted.get("statusReason"), codes.REASON_SYSTEM, "Task.statusReason")
        if fields["reason_code"] is None:
            raise InvalidRequest(f"Task.statusReason with a coding of {codes.REASON_SYSTEM} is required for {action}")
    if "outcome" in requires:
        fields["outcome"] = _outcome(wanted.get("output"))
    if "to_agency" in requires:
        fields["to_agency"] = organization_code(wanted.get("owner"), "Task.owner")
    try:
        return ActionBody.model_validate(fields)
    except ValidationError as exc:
        where = {
            "reason_code": "Task.statusReason",
            "outcome": "Task.output",
            "note": "Task.note",
            "to_agency": "Task.owner",
        }
        raise InvalidRequest(
            "; ".join(f"{where.get(str(e['loc'][0]), 'Task')}: {e['msg']}" for e in exc.errors())
        ) from None


def _reference(value: Any) -> Any:
    """What a Reference points at (a client may add or leave out its type and display)."""
    return value.get("reference") if isinstance(value, dict) else value


def _target(current: dict[str, Any], wanted: dict[str, Any]) -> Status | None:
    """The status asked for: a new owner is a forward, else a new status. ``businessStatus`` follows the
    status: a PUT sends back what it read, so a stale one says nothing (a PATCH of it alone: ``apply_patch``)."""
    if "owner" in wanted and _reference(wanted["owner"]) != _reference(current["owner"]):
        return Status.FORWARDED
    status = wanted.get("status", current["status"])
    if not isinstance(status, str):
        raise InvalidRequest("Task.status must be a code")
    if status == current["status"]:
        return None
    if status == "requested" and current["status"] == "draft":
        return Status.REQUESTED  # a planned referral sent now
    if status not in codes.STATUS_OF_TASK:
        raise InvalidRequest("Task.status cannot be set to that code")
    return codes.STATUS_OF_TASK[status]


def _new_note(current: list[Any], wanted: list[Any]) -> str | None:
    """The text of the one note appended. Notes are never changed or removed: a list that does not begin with
    the current notes is stale (another party added one since it was read), a Conflict."""
    if not isinstance(wanted, list):
        raise InvalidRequest("Task.note must be a list")
    added = wanted[len(current) :]
    if not added:
        return None
    if [_text(n) for n in wanted[: len(current)]] != [_text(n) for n in current]:
        raise Conflict("Task.note: the notes changed since this Task was read; read it again and add the note")
    if len(added) > 1:
        raise InvalidRequest("Task.note: add one note per update")
    text = added[0].get("text") if isinstance(added[0], dict) else None
    if not isinstance(text, str):
        raise InvalidRequest("Task.note: a note needs text")
    return text


def _text(note: Any) -> Any:
    return note.get("text") if isinstance(note, dict) else note


def _outcome(outputs: Any) -> str:
    for output in outputs if isinstance(outputs, list) else []:
        if not isinstance(output, dict):
            continue
        if _code_in(output.get("type"), codes.OUTPUT_TYPE_SYSTEM, "Task.output.type") == codes.OutputType.OUTCOME:
            code = _code_in(
                output.get("valueCodeableConcept"), codes.OUTCOME_SYSTEM, "Task.output.valueCodeableConcept"
            )
            if code is not None:
                return code
    raise InvalidRequest(f"Task.output with an outcome of {codes.OUTCOME_SYSTEM} is required to complete")


def parse_instant(text: str, location: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise InvalidRequest(f"{location} must be a FHIR dateTime") from None
