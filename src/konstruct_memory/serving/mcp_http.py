"""``/mcp`` on ``serve``: Streamable HTTP (stateless, JSON answers) behind the API's own keys.

The gate answers ``POST`` only: in the stateless JSON mode there is no session to stream to or
to end, so ``GET`` (an event stream the SDK would keep open) and ``DELETE`` are 405 and nothing
holds the server beyond one request. It authenticates ``Authorization: Bearer <key>`` before
the MCP transport sees the request: a missing or invalid key is a 401 with ``WWW-Authenticate``,
a key bound to no agent a 403 that says so. The key's tenant then holds one slot of its share
of the in-flight bound while the body is read; once it has arrived whole, the request takes a
slot of the bound itself. A body that is not one JSON-RPC
message (a batch, or anything else) is a 400 that does not quote it. The SDK's session manager
runs in the app's lifespan; its DNS-rebinding protection is on when the service listens on a
loopback address.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pydantic_core
from mcp.types import INVALID_REQUEST, jsonrpc_message_adapter
from pydantic import ValidationError
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from konstruct_memory import tracing
from konstruct_memory.api.admission import (
    Gate,
    authenticated,
    bearer_credential,
    read_body,
    replay,
)
from konstruct_memory.api.backpressure import InFlight, Throttles
from konstruct_memory.api.errors import DATABASE_ERRORS, database_error, retry_after
from konstruct_memory.engine.reads import identity_of
from konstruct_memory.errors import RateLimited, Unauthorized
from konstruct_memory.library import Memory
from konstruct_memory.mcp.backends import EngineBackend, current_principal, refuse_unbound
from konstruct_memory.mcp.server import MemoryServer

PATH = "/mcp"


class McpGate(Gate):
    """ASGI: the key's principal for the request, or a refusal before any MCP handling."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await _refuse(
                send,
                405,
                "method_not_allowed",
                f"{PATH} answers POST only (stateless JSON): no event stream, no session",
                headers=[(b"allow", b"POST")],
            )
            return
        try:
            with tracing.stage("authenticate"):
                principal = await authenticated(
                    self.throttles, self.memory(), scope, bearer_credential(scope)
                )
        except (Unauthorized, RateLimited) as exc:
            await _refuse(send, exc.status_code, exc.code, str(exc), exc)
            return
        except DATABASE_ERRORS as exc:
            await database_error(exc)(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["tenant_id"] = principal.tenant_id  # the access log's, and the trace's
        state["key_id"] = principal.key_id
        problem = refuse_unbound(identity_of(principal))
        if problem is not None:
            await _refuse(send, 403, "forbidden", problem)
            return
        try:
            self.throttles.claim(principal)
        except RateLimited as exc:
            await _refuse(send, exc.status_code, exc.code, str(exc), exc)
            return
        token = current_principal.set(principal)
        try:
            body = await read_body(receive)
            if body is None:
                return  # the client went away
            invalid = _not_one_message(body)
            if invalid is not None:
                await _refuse_rpc(send, *invalid)
                return
            await self.in_flight.run(self.app, scope, replay(body, receive), send)
        finally:
            current_principal.reset(token)
            self.throttles.release(principal)


def _not_one_message(body: bytes) -> tuple[int, str] | None:
    """Why ``body`` is not one JSON-RPC message, in words that never quote it (the SDK's own
    validation errors would); None if it is one, or if it is not JSON at all (the transport
    answers that, after its header checks)."""
    try:
        document = pydantic_core.from_json(body)
    except ValueError:
        return None
    if isinstance(document, list):
        return INVALID_REQUEST, "a JSON-RPC batch is not supported: send one message per request"
    try:
        jsonrpc_message_adapter.validate_python(document, by_name=False)
    except ValidationError:
        return INVALID_REQUEST, "body: is not a JSON-RPC 2.0 request, notification or response"
    return None


async def _refuse(
    send: Send,
    status: int,
    code: str,
    message: str,
    error: Exception | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", b"application/json"), *(headers or [])]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))  # as the REST routes answer
    if isinstance(error, RateLimited):
        headers.append((b"retry-after", retry_after(error.retry_after).encode()))
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _refuse_rpc(send: Send, code: int, message: str) -> None:
    """A 400 as the transport words its own: a JSON-RPC error object, without an id."""
    error = {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}
    body = json.dumps(error).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def mcp_route(
    memory: Callable[[], Memory], host: str, throttles: Throttles, in_flight: InFlight
) -> tuple[Route, MemoryServer]:
    """The ``/mcp`` route, and the server whose session manager the app's lifespan runs."""
    server = MemoryServer(EngineBackend(lambda: memory().engine))
    transport = server.streamable_http_app(
        streamable_http_path=PATH, stateless_http=True, json_response=True, host=host
    )
    return Route(PATH, endpoint=McpGate(transport, memory, throttles, in_flight)), server
