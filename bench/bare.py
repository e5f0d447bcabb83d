"""The framework limit: a bare FastAPI endpoint that validates the same create body and does nothing else.

``python -m uvicorn bench.bare:app --port P``; the ingest benchmark runs it beside the real service, in
the same run, with the same load generator, one worker each.
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI

from rujukan.referral.commands import CreateReferral

app = FastAPI()


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/referrals", status_code=201)
def create(body: CreateReferral) -> dict[str, str]:
    return {"id": str(uuid.uuid4()), "to_agency": body.to_agency}
