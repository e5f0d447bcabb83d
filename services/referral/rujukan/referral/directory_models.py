"""The directory's API bodies and views: an agency's entry for one service type (what, for whom, where,
how to reach it) and its capacity, as agencies write them and anyone reads them
(:mod:`rujukan.referral.directory` keeps them)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from rujukan.core.vocabulary import ServiceType, Sex, SubjectCategory, Waitlist
from rujukan.referral.commands import AgencyCode, Phone, RegionCode, Strict

Language = Annotated[str, StringConstraints(max_length=20, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")]
ServedSex = Literal[Sex.FEMALE, Sex.MALE]  # "unknown" is no one's eligibility rule
# Text a database stores as it is: no NUL and no other control character but tab and line breaks
# (PostgreSQL refuses a NUL in text; the others only hide what a reader sees).
PLAIN_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=PLAIN_TEXT)]


class Eligibility(Strict):
    categories: list[SubjectCategory] = Field(
        default_factory=list, max_length=len(SubjectCategory), description="Served categories; empty: any."
    )
    sex: list[ServedSex] = Field(default_factory=list, max_length=2, description="Served sexes; empty: any.")
    min_age: int | None = Field(default=None, ge=0, le=130)
    max_age: int | None = Field(default=None, ge=0, le=130)

    @model_validator(mode="after")
    def _ages(self) -> Eligibility:
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError("min_age is above max_age")
        return self


class Contact(Strict):
    phone: Phone | None = None
    email: (
        Annotated[
            str, StringConstraints(max_length=200, pattern=r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,190}$")
        ]
        | None
    ) = None
    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s\x00-\x1f\x7f]{1,490}$")] | None = None


class CapacityIn(Strict):
    """Body of ``PUT /v1/directory/services/{service_type}/capacity``."""

    available: int = Field(ge=0, le=1_000_000, description="Units available now (0: full).")
    maximum: int | None = Field(default=None, ge=0, le=1_000_000)
    unit: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")] = Field(
        default="places", description="What is counted: beds, places, sessions ..."
    )
    waitlist: Waitlist = Field(default=Waitlist.NONE, description="How long a new referral waits when full.")

    @model_validator(mode="after")
    def _within(self) -> CapacityIn:
        if self.maximum is not None and self.available > self.maximum:
            raise ValueError("available is above maximum")
        return self


class DirectoryServiceIn(Strict):
    """Body of ``PUT /v1/directory/services/{service_type}``: the whole entry."""

    name: Text200
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000, pattern=PLAIN_TEXT)
    ]
    eligibility: Eligibility = Field(default_factory=Eligibility)
    regions: list[RegionCode] = Field(default_factory=list, max_length=600, description="Served; empty: everywhere.")
    languages: list[Language] = Field(default_factory=lambda: ["id"], max_length=20)  # stored: 482 chars at most
    contact: Contact = Field(default_factory=Contact)
    capacity: CapacityIn | None = None


class CapacityOut(CapacityIn):
    updated_at: dt.datetime


class DirectoryService(DirectoryServiceIn):
    """An entry as anyone reads it."""

    id: str
    agency: AgencyCode
    service_type: ServiceType
    capacity: CapacityOut | None = None
    capacity_rejections: int = 0
    updated_at: dt.datetime
