"""The coded values of the event contract as Python enums, for APIs and validation.

schemas/ is the source of truth: ``tests/unit/test_vocabulary.py`` checks that every enum here equals the
symbols of the Avro enum of the same name, so the two cannot drift apart.
"""

from __future__ import annotations

from enum import StrEnum

AGENCY_CODE_PATTERN = r"^[A-Z0-9][A-Z0-9-]{1,39}$"
"""An agency code (``BAPAS-JAKTIM``): the registry's, and what every service accepts as one."""


class ServiceType(StrEnum):
    PSYCHOSOCIAL_SUPPORT = "psychosocial_support"
    COUNSELLING = "counselling"
    MENTAL_HEALTH = "mental_health"
    HEALTH_CARE = "health_care"
    LEGAL_AID = "legal_aid"
    SAFE_SHELTER = "safe_shelter"
    SKILLS_TRAINING = "skills_training"
    EMPLOYMENT = "employment"
    ECONOMIC_EMPOWERMENT = "economic_empowerment"
    EDUCATION = "education"
    FAMILY_REINTEGRATION = "family_reintegration"
    CIVIL_DOCUMENTATION = "civil_documentation"
    SOCIAL_ASSISTANCE = "social_assistance"
    RELIGIOUS_GUIDANCE = "religious_guidance"
    DERADICALISATION_PROGRAMME = "deradicalisation_programme"
    SUPERVISION = "supervision"


class SubjectCategory(StrEnum):
    INMATE_PRE_RELEASE = "inmate_pre_release"
    EX_INMATE = "ex_inmate"
    CHILD_IN_CONFLICT_WITH_LAW = "child_in_conflict_with_law"
    VIOLENCE_VICTIM_WOMAN = "violence_victim_woman"
    VIOLENCE_VICTIM_CHILD = "violence_victim_child"
    TRAFFICKING_VICTIM = "trafficking_victim"
    DERADICALISATION_PARTNER = "deradicalisation_partner"
    DRUG_REHABILITATION = "drug_rehabilitation"
    PERSON_WITH_DISABILITY = "person_with_disability"
    OTHER = "other"


class Urgency(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class ReasonCode(StrEnum):
    CAPACITY_FULL = "capacity_full"
    NOT_ELIGIBLE = "not_eligible"
    OUT_OF_AREA = "out_of_area"
    SUBJECT_UNREACHABLE = "subject_unreachable"
    SUBJECT_DECLINED = "subject_declined"
    MISSING_DOCUMENTS = "missing_documents"
    DUPLICATE = "duplicate"
    REFERRED_ELSEWHERE = "referred_elsewhere"
    SAFETY_CONCERN = "safety_concern"
    OTHER = "other"


class Outcome(StrEnum):
    SERVICE_DELIVERED = "service_delivered"
    GOALS_MET = "goals_met"
    PARTIALLY_MET = "partially_met"
    SUBJECT_WITHDREW = "subject_withdrew"
    OTHER = "other"


class FollowUpOutcome(StrEnum):
    """How a person was found at a pathway's follow-up check (FollowUpRecorded)."""

    LIVING_INDEPENDENTLY = "living_independently"
    EMPLOYED = "employed"
    IN_EDUCATION = "in_education"
    RECEIVING_SERVICES = "receiving_services"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"
    RETURNED_TO_CUSTODY = "returned_to_custody"
    OTHER = "other"


FOLLOW_UP_MONTHS = (3, 6, 12)


class AssessmentDomain(StrEnum):
    """The domains of a risk and needs assessment, each scored 0 (no need) to 3 (severe). Sealed with the
    subject: not part of the event contract's enums."""

    HOUSING = "housing"
    EMPLOYMENT = "employment"
    EDUCATION = "education"
    FINANCES = "finances"
    FAMILY = "family"
    SOCIAL_NETWORK = "social_network"
    PHYSICAL_HEALTH = "physical_health"
    MENTAL_HEALTH = "mental_health"
    SUBSTANCE_USE = "substance_use"
    ATTITUDES = "attitudes"
    LEGAL = "legal"
    SAFETY = "safety"  # the checks after a pathway's last step completed


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    UNKNOWN = "unknown"


class AgeBand(StrEnum):
    AGE_0_5 = "age_0_5"
    AGE_6_12 = "age_6_12"
    AGE_13_17 = "age_13_17"
    AGE_18_24 = "age_18_24"
    AGE_25_44 = "age_25_44"
    AGE_45_59 = "age_45_59"
    AGE_60_PLUS = "age_60_plus"
    UNKNOWN = "unknown"


class LegalBasis(StrEnum):
    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTEREST = "vital_interest"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTEREST = "legitimate_interest"


class ConsentGiver(StrEnum):
    SUBJECT = "subject"
    GUARDIAN = "guardian"


class Waitlist(StrEnum):
    """How long a new referral waits when a service is full (a directory entry's capacity)."""

    NONE = "none"
    SHORT = "short"  # days
    MEDIUM = "medium"  # weeks
    LONG = "long"  # months


class CapacityCause(StrEnum):
    """Why a directory entry's capacity changed."""

    SET = "set"
    REJECTED_FOR_CAPACITY = "rejected_for_capacity"


class SlaClock(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESPOND = "respond"


class AgencyKind(StrEnum):
    """Not in the event contract (agencies are registry data), listed here for every service's validation."""

    MINISTRY = "ministry"
    CORRECTIONS = "corrections"
    POLICE = "police"
    HEALTH = "health"
    LOCAL_GOVERNMENT = "local_government"
    CSO = "cso"
    OTHER = "other"


AVRO_ENUMS: dict[str, type[StrEnum]] = {
    "id.rujukan.ServiceType": ServiceType,
    "id.rujukan.SubjectCategory": SubjectCategory,
    "id.rujukan.Urgency": Urgency,
    "id.rujukan.ReasonCode": ReasonCode,
    "id.rujukan.Outcome": Outcome,
    "id.rujukan.FollowUpOutcome": FollowUpOutcome,
    "id.rujukan.Sex": Sex,
    "id.rujukan.AgeBand": AgeBand,
    "id.rujukan.LegalBasis": LegalBasis,
    "id.rujukan.ConsentGiver": ConsentGiver,
    "id.rujukan.SlaClock": SlaClock,
    "id.rujukan.directory.Waitlist": Waitlist,
    "id.rujukan.directory.CapacityCause": CapacityCause,
}
