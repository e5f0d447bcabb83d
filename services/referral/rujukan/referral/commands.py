"""What callers ask of the referral service: validated input models (also the HTTP request bodies).

Every model forbids unknown fields. Identifying data (the subject block, reasons and notes) is accepted
here and sealed by the service layer before anything is stored or published.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from rujukan.core.vocabulary import (
    AGENCY_CODE_PATTERN,
    AssessmentDomain,
    ConsentGiver,
    LegalBasis,
    Outcome,
    ReasonCode,
    ServiceType,
    Sex,
    SubjectCategory,
    Urgency,
)

AgencyCode = Annotated[str, StringConstraints(pattern=AGENCY_CODE_PATTERN)]
RegionCode = Annotated[str, StringConstraints(pattern=r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")]
Nik = Annotated[str, StringConstraints(pattern=r"^\d{16}$")]
IhsNumber = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{6,20}$")]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 -]{5,29}$")]
FreeText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SubjectIn(Strict):
    """The person referred. Everything but sex, category and region is sealed."""

    full_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    nik: Nik | None = Field(default=None, description="16-digit Nomor Induk Kependudukan, if known.")
    ihs_number: IhsNumber | None = Field(
        default=None, description="The SATUSEHAT patient number (IHS number), if known; sealed like the NIK."
    )
    birth_date: dt.date | None = None
    sex: Sex = Sex.UNKNOWN
    category: SubjectCategory
    region_code: RegionCode = Field(description="BPS/Kemendagri kode wilayah of the domicile, e.g. 31.75.")
    phone: Phone | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class ConsentIn(Strict):
    given_by: ConsentGiver
    recorded_at: dt.datetime = Field(description="When consent was recorded (ISO 8601 with offset).")


class AssessmentIn(Strict):
    """A structured risk and needs assessment: sealed with the subject, read only by the parties."""

    instrument: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = Field(
        default=None, description="The assessment instrument or form, e.g. Litmas or a BNPT screening."
    )
    assessed_at: dt.datetime = Field(description="When it was made (ISO 8601 with offset).")
    domains: dict[AssessmentDomain, Annotated[int, Field(ge=0, le=3)]] = Field(
        min_length=1, description="Each domain assessed, scored 0 (no need) to 3 (severe)."
    )
    note: FreeText | None = None


class CreateReferral(Strict):
    to_agency: AgencyCode
    service_type: ServiceType
    urgency: Urgency
    reason: FreeText = Field(description="Why the subject is referred. Sealed; only the parties read it.")
    legal_basis: LegalBasis
    consent: ConsentIn | None = None
    subject: SubjectIn
    case_id: UUID | None = Field(default=None, description="Join an existing case; a new one by default.")
    parent_referral_id: UUID | None = Field(default=None, description="A re-referral of this referral.")
    continues_referral_id: UUID | None = Field(
        default=None,
        description="The person's next step after this referral (one you are a party to): the new referral joins"
        " its case, linked as its continuation. Another agency's referral answers 404, as a missing one does.",
    )
    assessment: AssessmentIn | None = Field(
        default=None, description="A risk and needs assessment that travels with the referral (sealed)."
    )
    planned_for: dt.datetime | None = Field(
        default=None,
        description="Plan the referral to be sent at this time (ISO 8601 with offset, in the future, at most two"
        " years ahead). Until then it is planned: both parties see it, the requester may send it earlier (send)"
        " or cancel it, and its SLA clocks start only when it is sent.",
    )
    dry_run: bool = Field(
        default=False,
        description="Only check: answer 200 with what a create would do (would_create, warnings, errors) and"
        " store nothing.",
    )


class Correction(Strict):
    """Body of ``POST /v1/subjects/{subject_id}/correct``: the identifying fields to rectify (at least one)."""

    full_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    nik: Nik | None = None
    birth_date: dt.date | None = None
    phone: Phone | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None

    @model_validator(mode="after")
    def _something(self) -> Correction:
        if not self.model_fields_set:
            raise ValueError("give at least one field to correct")
        return self

    def fields(self) -> dict[str, str | None]:
        """The corrected fields as the sealed identity holds them."""
        found = self.model_dump(include=self.model_fields_set)
        if "birth_date" in found and found["birth_date"] is not None:
            found["birth_date"] = found["birth_date"].isoformat()
        return found


class ActionBody(Strict):
    """Body of ``POST /v1/referrals/{id}/{action}``; which fields are required depends on the action."""

    reason_code: ReasonCode | None = None
    note: FreeText | None = Field(default=None, description="Free text, sealed.")
    outcome: Outcome | None = None
    to_agency: AgencyCode | None = Field(default=None, description="For forward: the next agency.")

    def given(self) -> frozenset[str]:
        return frozenset(name for name, value in self if value is not None)
