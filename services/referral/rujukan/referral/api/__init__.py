"""The agency-facing HTTP API of the referral service (FastAPI)."""
