"""The demo scenario as a table plus a small interpreter.

The table is ``demo_scenario.json`` beside this module (every name, NIK and phone number in it is
fictional). Its shape:

- ``agencies``: the registry entries the demo registers (``AgencyIn``: code, name, kind, region_code,
  services).
- ``subjects``: the subject block of a create request (``SubjectIn``), by a short name.
- ``journeys``: in order, each a ``label`` (the progress bar's text), an optional ``about`` (a note for
  the reader) and ``steps``, each step one of
  ``{"refer": KEY, "by", "to", "service", "urgency", "subject", "reason", "legal_basis", "consent"?,
  "case_of"?, "parent"?}``: create a referral named KEY (later rows name it; its idempotency key is made
  of it); ``consent`` is who gave it (recorded today), ``case_of`` puts it in the case of an earlier
  referral, ``parent`` makes it a re-referral of one;
  ``{"act": ACTION, "on": KEY, "by"?, "to_agency"?, "reason_code"?, "outcome"?, "note"?}``: an action on
  an earlier referral, taken by its responder unless ``by`` names the agency.

:func:`load_scenario` parses the table once and refuses one whose rows name an agency, subject or
referral that does not exist (before it is made). :func:`play` takes the steps through the agency API in
order and yields a journey's label when its steps are done: the progress total is
``len(scenario.journeys)``. No HTTP here: :class:`AgencyApi` is whatever carries the requests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Discriminator, Tag, ValidationError, model_validator

from rujukan.core.lifecycle import Action
from rujukan.core.vocabulary import ConsentGiver, LegalBasis, Outcome, ReasonCode, ServiceType, Urgency
from rujukan.referral.commands import SubjectIn
from rujukan.referral.registry import AgencyIn

SCENARIO_FILE = Path(__file__).with_name("demo_scenario.json")


class ScenarioError(Exception):
    """The demo's table cannot be read, or names something it does not hold."""


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Refer(Row):
    """Create the referral ``refer`` from ``by`` to ``to``."""

    refer: str
    by: str
    to: str
    service: ServiceType
    urgency: Urgency
    subject: str
    reason: str
    legal_basis: LegalBasis
    consent: ConsentGiver | None = None
    case_of: str | None = None
    parent: str | None = None


class Act(Row):
    """Take ``act`` on the referral ``on``; the body fields in the order the API documents them."""

    act: Action
    on: str
    by: str | None = None
    to_agency: str | None = None
    reason_code: ReasonCode | None = None
    outcome: Outcome | None = None
    note: str | None = None

    def body(self) -> dict[str, str]:
        fields = {"to_agency", "reason_code", "outcome", "note"}
        return self.model_dump(mode="json", include=fields, exclude_none=True)


def _step_kind(value: Any) -> str:
    return "refer" if isinstance(value, Refer) or (isinstance(value, dict) and "refer" in value) else "act"


Step = Annotated[Annotated[Refer, Tag("refer")] | Annotated[Act, Tag("act")], Discriminator(_step_kind)]


class Journey(Row):
    label: str
    about: str = ""
    steps: tuple[Step, ...]


class Scenario(Row):
    agencies: tuple[AgencyIn, ...]
    subjects: dict[str, SubjectIn]
    journeys: tuple[Journey, ...]

    @model_validator(mode="after")
    def _names_what_it_holds(self) -> Scenario:
        problems = list(_dangling(self))
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _dangling(scenario: Scenario) -> Iterator[str]:
    """Every name a row uses that the table does not hold (referrals: not made by an earlier row)."""
    agencies = {agency.code for agency in scenario.agencies}
    made: set[str] = set()
    for journey in scenario.journeys:
        for step in journey.steps:
            if isinstance(step, Refer):
                yield from _unknown("agency", agencies, step.by, step.to)
                yield from _unknown("subject", set(scenario.subjects), step.subject)
                yield from _unknown("earlier referral", made, step.case_of, step.parent)
                if step.refer in made:
                    yield f"referral {step.refer} is made twice"
                made.add(step.refer)
            else:
                yield from _unknown("agency", agencies, step.by, step.to_agency)
                yield from _unknown("earlier referral", made, step.on)


def _unknown(kind: str, known: set[str], *names: str | None) -> Iterator[str]:
    for name in names:
        if name is not None and name not in known:
            yield f"no {kind} {name}"


def load_scenario(path: Path = SCENARIO_FILE) -> Scenario:
    try:
        return Scenario.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise ScenarioError(f"the demo scenario {path.name} is unusable: {exc}") from exc


# -- the interpreter -------------------------------------------------------------------------------------
class AgencyApi(Protocol):
    """The agency API as each agency's system calls it."""

    @property
    def day(self) -> dt.datetime:
        """Today, as the demo counts days (idempotency keys, consent times)."""
        ...

    def refer(self, key: str, by: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create a referral as ``by``; the answer holds at least ``id`` and ``case_id``."""
        ...

    def act(self, by: str, referral_id: str, action: str, body: dict[str, str]) -> None: ...


def play(scenario: Scenario, api: AgencyApi) -> Iterator[str]:
    """Take every step of every journey through ``api``, in order; yield each journey's label when done."""
    made: dict[str, tuple[Refer, dict[str, Any]]] = {}
    for journey in scenario.journeys:
        for step in journey.steps:
            if isinstance(step, Refer):
                made[step.refer] = (step, api.refer(step.refer, step.by, _create_body(scenario, step, made, api.day)))
            else:
                referred, answer = made[step.on]
                api.act(step.by or referred.to, answer["id"], step.act.value, step.body())
        yield journey.label


def _create_body(
    scenario: Scenario, row: Refer, made: dict[str, tuple[Refer, dict[str, Any]]], day: dt.datetime
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "to_agency": row.to,
        "service_type": row.service.value,
        "urgency": row.urgency.value,
        "reason": row.reason,
        "legal_basis": row.legal_basis.value,
        "subject": scenario.subjects[row.subject].model_dump(mode="json", exclude_unset=True),
    }
    if row.case_of is not None:
        body["case_id"] = made[row.case_of][1]["case_id"]
    if row.parent is not None:
        body["parent_referral_id"] = made[row.parent][1]["id"]
    if row.consent is not None:
        # recorded today: the same body, so the same idempotent answer, when the demo runs again today
        body["consent"] = {"given_by": row.consent.value, "recorded_at": day.isoformat()}
    return body
