"""What every answer carries, and the ``/v1`` credential checked before the request's body.

FastAPI reads a body before it resolves the route's dependencies, so a key checked only there
would let a client hold an in-flight slot, unauthenticated, for as long as its body takes to
arrive. ``KeyGate`` checks the bearer credential from the request's head instead: no live key,
and the answer is 401 (or 429 for an address that keeps failing) before a byte of the body is
read. A live key's tenant then holds one slot of its share while the body arrives, and only a
request that has arrived whole takes a slot of the in-flight bound, so neither a refusal nor a
slow body occupies the bound that serves the other tenants. The principal goes on to the
routes (``deps.key_principal`` takes it from the request's state). The admin token passes on
to the admin routes, which check it themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anyio
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from konstruct_memory import tracing
from konstruct_memory.api.backpressure import InFlight, Throttles, client_address
from konstruct_memory.api.errors import DATABASE_ERRORS, database_error, refusal
from konstruct_memory.auth.principal import Principal, is_admin_token
from konstruct_memory.errors import RateLimited, Unauthorized
from konstruct_memory.library import Memory

PREFIX = "/v1/"
KEY_REFUSAL = "missing, unknown or revoked API key"


def bearer_credential(scope: Scope) -> str | None:
    """The credential of ``Authorization: Bearer …``, or None (no header, another scheme)."""
    header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    return credential if scheme.lower() == "bearer" and credential else None


async def authenticated(
    throttles: Throttles, memory: Memory, scope: Scope, credential: str | None
) -> Principal:
    """The principal of the request's key, through the failed-authentication throttle of its
    address (off the event loop: it reads the database). Raises ``Unauthorized`` or
    ``RateLimited``, and the database's errors."""

    def authenticate() -> Principal | None:
        return memory.authenticate(credential) if credential is not None else None

    principal: Principal = await anyio.to_thread.run_sync(
        throttles.admit, client_address(scope), authenticate, KEY_REFUSAL
    )
    return principal


@dataclass(eq=False)
class Gate:
    """What an ASGI gate in front of the operations holds: the app behind it, the memory whose
    keys it authenticates, the per-address and per-tenant throttles, and the in-flight bound."""

    app: ASGIApp
    memory: Callable[[], Memory]
    throttles: Throttles
    in_flight: InFlight


@dataclass(eq=False)
class KeyGate(Gate):
    """ASGI, for ``/v1``: a tenant's principal, its share of the in-flight bound and its whole
    body, then a slot of the bound; or a refusal, decided from the request's head. The admin
    token is the other credential it takes; ``routes`` are the ``/v1`` routes it admits to."""

    admin_token: str
    routes: Sequence[BaseRoute]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        credential = bearer_credential(scope)
        if (
            (credential is not None and is_admin_token(credential, self.admin_token))
            # No such route: its 404 reads no body and needs no credential.
            or all(route.matches(scope)[0] is Match.NONE for route in self.routes)
        ):
            await self.in_flight.run(self.app, scope, receive, send)
            return
        try:
            with tracing.stage("authenticate"):
                principal = await authenticated(self.throttles, self.memory(), scope, credential)
            self.throttles.claim(principal)
        except (Unauthorized, RateLimited) as exc:
            await refusal(exc)(scope, receive, send)
            return
        except DATABASE_ERRORS as exc:
            await database_error(exc)(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["principal"] = principal
        state["tenant_id"] = principal.tenant_id  # the access log's
        try:
            body = await read_body(receive)
            if body is not None:  # else the client went away
                await self.in_flight.run(self.app, scope, replay(body, receive), send)
        finally:
            self.throttles.release(principal)


async def read_body(receive: Receive) -> bytes | None:
    """A request's whole body (its size is bounded further out), or None if the client left."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """The body, read once already, as the app's ``receive``; then the client's own."""
    pending = [body]

    async def replayed() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replayed


class NoSniff:
    """ASGI: every answer says ``X-Content-Type-Options: nosniff``, so no browser reads a JSON
    answer (or an error quoting a field's name) as HTML or script."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"x-content-type-options" for name, _ in headers):
                    headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, marked)
