"""Routes of the transparency log, for any agency to keep Rujukan honest: the newest signed checkpoint, the
public keys, and RFC 9162 proofs (hashes in standard base64). An agency saves checkpoints, and later
proves that its events are still in the log (inclusion) and that the log only grew (consistency)."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from rujukan.referral.api.auth import Agency, Context
from rujukan.referral.api.routes import ERRORS
from rujukan.referral.checkpoints import consistency_proof, inclusion_proof, latest_checkpoint
from rujukan.referral.errors import NotFound

router = APIRouter(prefix="/v1/transparency")
TEXT: dict[int | str, dict[str, Any]] = {200: {"content": {"text/plain": {"schema": {"type": "string"}}}}}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class PublicKeysOut(BaseModel):
    log: str
    events: str


class InclusionOut(BaseModel):
    event_id: str
    log_index: int
    tree_size: int
    leaf_hash: str
    audit_path: list[str]


class ConsistencyOut(BaseModel):
    first: int
    second: int
    consistency: list[str]


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    responses={**ERRORS, **TEXT},
    summary="The newest signed checkpoint (a C2SP tlog-checkpoint in a signed note)",
)
def checkpoint(agency: Agency, ctx: Context) -> PlainTextResponse:
    found = latest_checkpoint(ctx)
    if found is None:
        raise NotFound("the log has no checkpoint yet")
    return PlainTextResponse(found.note, headers={"Cache-Control": "no-store"})


@router.get(
    "/public-keys",
    response_model=PublicKeysOut,
    responses=ERRORS,
    summary="The note verifier keys of checkpoints (log) and of event signatures (events)",
)
def public_keys(agency: Agency, ctx: Context) -> PublicKeysOut:
    public = ctx.signing.public
    return PublicKeysOut(log=public.log.text, events=public.events.text)


@router.get(
    "/proofs/inclusion",
    response_model=InclusionOut,
    responses=ERRORS,
    summary="Proof that an event of one of your referrals is in the log (RFC 9162 section 2.1.3)",
)
def inclusion(
    agency: Agency,
    ctx: Context,
    event_id: Annotated[str, Query(max_length=36, description="The event's id (also in its webhook).")],
    tree_size: Annotated[int | None, Query(ge=1, description="Default: the newest checkpoint's size.")] = None,
) -> InclusionOut:
    proof = inclusion_proof(ctx, agency=agency, event_id=event_id, tree_size=tree_size)
    return InclusionOut(
        event_id=proof.event_id,
        log_index=proof.log_index,
        tree_size=proof.tree_size,
        leaf_hash=_b64(proof.leaf_hash),
        audit_path=[_b64(h) for h in proof.audit_path],
    )


@router.get(
    "/proofs/consistency",
    response_model=ConsistencyOut,
    responses=ERRORS,
    summary="Proof that the tree of `second` leaves extends the tree of `first` (RFC 9162 section 2.1.4)",
)
def consistency(
    agency: Agency,
    ctx: Context,
    first: Annotated[int, Query(ge=1)],
    second: Annotated[int, Query(ge=1)],
) -> ConsistencyOut:
    proof = consistency_proof(ctx, first=first, second=second)
    return ConsistencyOut(first=first, second=second, consistency=[_b64(h) for h in proof])
