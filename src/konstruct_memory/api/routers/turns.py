"""``/v1/turns``, ``/v1/history``, ``/v1/scopes`` and ``/v1/whoami``: turns in, turns back
in order or by id, the scopes that hold them, and who the key is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from konstruct_memory.api.deps import EngineDep, KeyPrincipal, route_options
from konstruct_memory.operations import (
    BY_NAME,
    GetTurnRequest,
    History,
    HistoryRequest,
    Identity,
    ListScopesRequest,
    Remembered,
    RememberRequest,
    Scopes,
    StoredTurn,
    WhoAmIRequest,
    build,
)

router = APIRouter(tags=["turns"])


@router.api_route(**route_options(BY_NAME["remember"]))
def remember(body: RememberRequest, principal: KeyPrincipal, engine: EngineDep) -> Remembered:
    return engine.run(principal, body)


@router.api_route(**route_options(BY_NAME["whoami"]))
def whoami(principal: KeyPrincipal, engine: EngineDep) -> Identity:
    return engine.run(principal, WhoAmIRequest())


@router.api_route(**route_options(BY_NAME["history"]))
def history(
    principal: KeyPrincipal,
    engine: EngineDep,
    agent_id: str | None = None,
    user_id: str | None = None,
    limit: int = 20,
    conversation_id: str | None = None,
    before: str | None = None,
    since: str | None = None,
    until: str | None = None,
    roles: Annotated[list[str] | None, Query(description="Repeat for several")] = None,
) -> History:
    # A query string has no types: the integer is decoded here, every rule is the contract's.
    request = build(
        HistoryRequest,
        agent_id=agent_id,
        user_id=user_id,
        limit=limit,
        conversation_id=conversation_id,
        before=before,
        since=since,
        until=until,
        roles=roles,
    )
    return engine.run(principal, request)


@router.api_route(**route_options(BY_NAME["get_turn"]))
def get_turn(
    turn_id: str,
    principal: KeyPrincipal,
    engine: EngineDep,
    agent_id: str | None = None,
    user_id: str | None = None,
) -> StoredTurn:
    request = build(GetTurnRequest, turn_id=turn_id, agent_id=agent_id, user_id=user_id)
    return engine.run(principal, request)


@router.api_route(**route_options(BY_NAME["list_scopes"]))
def list_scopes(
    principal: KeyPrincipal,
    engine: EngineDep,
    agent_id: str | None = None,
    user_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Scopes:
    request = build(
        ListScopesRequest, agent_id=agent_id, user_id=user_id, limit=limit, offset=offset
    )
    return engine.run(principal, request)
