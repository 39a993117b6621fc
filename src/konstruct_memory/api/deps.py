"""What routes depend on: the engine, and the principal a request's credential stands for."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from konstruct_memory.api.admission import KEY_REFUSAL
from konstruct_memory.api.backpressure import Throttles, client_address
from konstruct_memory.auth.principal import ADMINISTRATOR, Principal, is_admin_token
from konstruct_memory.engine.service import Engine
from konstruct_memory.library import Memory

_bearer = HTTPBearer(auto_error=False, description="A tenant API key, or the admin token")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def memory(request: Request) -> Memory:
    found: Memory = request.app.state.memory
    return found


async def engine(request: Request) -> Engine:
    # async: no I/O, so FastAPI runs it inline instead of hopping to its thread pool.
    return memory(request).engine


def key_principal(request: Request, credentials: Credentials) -> Principal:
    """The tenant comes from the key, and only from the key: the principal ``KeyGate`` found
    from the request's head, before its body was read."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # the gate let the admin token through: not a key
        throttles: Throttles = request.app.state.throttles
        principal = throttles.admit(
            client_address(request.scope),
            lambda: memory(request).authenticate(credentials.credentials) if credentials else None,
            KEY_REFUSAL,
        )
    request.state.tenant_id = principal.tenant_id
    request.state.key_id = principal.key_id
    return principal


def admin_principal(request: Request, credentials: Credentials) -> Principal:
    presented = credentials.credentials if credentials else ""
    throttles: Throttles = request.app.state.throttles
    return throttles.admit(
        client_address(request.scope),
        lambda: ADMINISTRATOR if is_admin_token(presented, request.app.state.admin_token) else None,
        "this route needs the admin token",
    )


EngineDep = Annotated[Engine, Depends(engine)]
KeyPrincipal = Annotated[Principal, Depends(key_principal)]
AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
