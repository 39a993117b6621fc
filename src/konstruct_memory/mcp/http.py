"""``/mcp`` on ``serve``: Streamable HTTP (stateless, JSON answers) behind the API's own keys.

The gate authenticates ``Authorization: Bearer <key>`` before the MCP transport sees the
request: a missing or invalid key is a 401 with ``WWW-Authenticate``, a key bound to no agent
a 403 that says so. The SDK's session manager runs in the app's lifespan; its DNS-rebinding
protection is on when the service listens on a loopback address.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import anyio
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from konstruct_memory.api.backpressure import Throttles, client_address
from konstruct_memory.api.errors import retry_after
from konstruct_memory.auth.principal import Principal
from konstruct_memory.engine.reads import identity_of
from konstruct_memory.errors import RateLimited, Unauthorized
from konstruct_memory.library import Memory
from konstruct_memory.mcp.backends import EngineBackend, current_principal, refuse_unbound
from konstruct_memory.mcp.server import MemoryServer

PATH = "/mcp"


class McpGate:
    """ASGI: the key's principal for the request, or a refusal before any MCP handling."""

    def __init__(self, app: ASGIApp, memory: Callable[[], Memory], throttles: Throttles) -> None:
        self.app = app
        self.memory = memory
        self.throttles = throttles

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, key = header.partition(" ")
        memory = self.memory()

        def authenticate() -> Principal | None:
            if scheme.lower() != "bearer" or not key.strip():
                return None
            return memory.authenticate(key.strip())

        try:
            principal = await anyio.to_thread.run_sync(
                self.throttles.admit,
                client_address(scope),
                authenticate,
                "missing, unknown or revoked API key",
            )
        except (Unauthorized, RateLimited) as exc:
            await _refuse(send, exc.status_code, exc.code, str(exc), exc)
            return
        scope.setdefault("state", {})["tenant_id"] = principal.tenant_id  # the access log's
        problem = refuse_unbound(identity_of(principal))
        if problem is not None:
            await _refuse(send, 403, "forbidden", problem)
            return
        token = current_principal.set(principal)
        try:
            await self.app(scope, receive, send)
        finally:
            current_principal.reset(token)


async def _refuse(
    send: Send, status: int, code: str, message: str, error: Exception | None = None
) -> None:
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))  # as the REST routes answer
    if isinstance(error, RateLimited):
        headers.append((b"retry-after", retry_after(error.retry_after).encode()))
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def mcp_route(
    memory: Callable[[], Memory], host: str, throttles: Throttles
) -> tuple[Route, MemoryServer]:
    """The ``/mcp`` route, and the server whose session manager the app's lifespan runs."""
    server = MemoryServer(EngineBackend(lambda: memory().engine))
    transport = server.streamable_http_app(
        streamable_http_path=PATH, stateless_http=True, json_response=True, host=host
    )
    return Route(PATH, endpoint=McpGate(transport, memory, throttles)), server
