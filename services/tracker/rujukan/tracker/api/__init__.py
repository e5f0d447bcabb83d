"""The coordinator API and dashboard of the tracker (FastAPI)."""
