"""Where the tools' requests go: the engine in this process (``/mcp`` on ``serve``), or the
HTTP API through the async client (the stdio front)."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol, TypeVar

import anyio

from konstruct_memory.client import AsyncClient
from konstruct_memory.errors import Unauthorized
from konstruct_memory.operations import Identity, Request, Result

if TYPE_CHECKING:  # the stdio front needs neither: it must not load the database layers
    from konstruct_memory.auth.principal import Principal
    from konstruct_memory.engine.service import Engine

R = TypeVar("R", bound=Result)

# Set by the HTTP gate for the request being served; the SDK runs the tool in a task that
# inherits this context.
current_principal: ContextVar[Principal | None] = ContextVar("konstruct_principal", default=None)


class Backend(Protocol):
    async def identity(self) -> Identity:
        """Who the session acts as: tenant, scopes, and the agent (and user) it is bound to."""
        ...

    async def run(self, request: Request[R]) -> R: ...


class EngineBackend:
    """In ``serve``: each request's principal comes from its API key (``http.McpGate``)."""

    def __init__(self, engine: Callable[[], Engine]) -> None:
        self.engine = engine  # looked up per call: the app opens its engine at start-up

    def _principal(self) -> Principal:
        principal = current_principal.get()
        if principal is None:
            raise Unauthorized("missing, unknown or revoked API key")
        return principal

    async def identity(self) -> Identity:
        from konstruct_memory.engine.reads import identity_of

        return identity_of(self._principal())

    async def run(self, request: Request[R]) -> R:
        principal = self._principal()
        # The engine is synchronous (pooled database connections): off the event loop.
        result: R = await anyio.to_thread.run_sync(self.engine().run, principal, request)
        return result


class ClientBackend:
    """The stdio front: a thin layer over the HTTP API, as the key's own client."""

    def __init__(self, client: AsyncClient, identity: Identity) -> None:
        self.client = client
        self._identity = identity

    async def identity(self) -> Identity:
        return self._identity

    async def run(self, request: Request[R]) -> R:
        return await self.client.run(request)


def refuse_unbound(identity: Identity) -> str | None:
    """Why a key cannot drive an MCP session, or None if it can."""
    if identity.agent_id is None:
        return (
            "this API key is bound to no agent, and an MCP session always acts as one agent: "
            "create a key for it with `konstruct-memory key create --tenant TENANT --agent "
            "AGENT_ID` (or POST /v1/tenants/{tenant_id}/api-keys with an agent_id)"
        )
    return None
