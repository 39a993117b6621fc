"""``/v1/recall``, ``/v1/recall/across-users`` and ``/v1/context``."""

from __future__ import annotations

from fastapi import APIRouter

from konstruct_memory.api.deps import EngineDep, KeyPrincipal, route_options
from konstruct_memory.operations import (
    BY_NAME,
    Context,
    ContextRequest,
    RecallAcrossUsersRequest,
    Recalled,
    RecallRequest,
)

router = APIRouter(tags=["recall"])


@router.api_route(**route_options(BY_NAME["recall"]))
def recall(body: RecallRequest, principal: KeyPrincipal, engine: EngineDep) -> Recalled:
    return engine.run(principal, body)


@router.api_route(**route_options(BY_NAME["recall_across_users"]))
def recall_across_users(
    body: RecallAcrossUsersRequest, principal: KeyPrincipal, engine: EngineDep
) -> Recalled:
    return engine.run(principal, body)


@router.api_route(**route_options(BY_NAME["context"]))
def context(body: ContextRequest, principal: KeyPrincipal, engine: EngineDep) -> Context:
    return engine.run(principal, body)
