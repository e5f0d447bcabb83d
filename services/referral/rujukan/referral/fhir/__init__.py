"""HL7 FHIR R4 for health agencies: referrals as ServiceRequest plus Task, at ``/fhir/r4``."""
