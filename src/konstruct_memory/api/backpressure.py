"""Load the service refuses rather than queues: requests in flight beyond a bound, a tenant over
its share of that bound or over its rate, an address that keeps failing authentication.

Waiting is the failure mode of an overloaded memory: every agent's reply stalls behind it. So
the excess is answered at once (after at most a short queue wait) with a status and a
``Retry-After`` that a client can act on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from uuid import UUID

from psycopg_pool import ConnectionPool
from starlette.types import ASGIApp, Receive, Scope, Send

from konstruct_memory.api.errors import error_response
from konstruct_memory.api.observability import Metrics
from konstruct_memory.api.tenant_rates import TenantRates, TokenBuckets
from konstruct_memory.auth.principal import Principal
from konstruct_memory.db.tenant import Connection
from konstruct_memory.errors import Overloaded, RateLimited, Unauthorized

# Never limited: a load balancer must see health while the service sheds load.
_EXEMPT = ("/healthz", "/metrics")
# The inspector's static files: a page load fetches a dozen modules at once, each read from the
# package with no database or model work, and one refused module leaves the page dead.
_STATIC = "/inspector"


class InFlight:
    """At most ``limit`` requests running at once; one more waits at most ``queue_wait``
    seconds for a slot, then gets 503 with ``Retry-After: 1``."""

    def __init__(self, limit: int, queue_wait: float, metrics: Metrics) -> None:
        self.queue_wait = queue_wait
        self.metrics = metrics
        self._slots = asyncio.Semaphore(limit)

    async def run(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """``app`` in a slot, or the 503."""
        try:
            # Cancelled on time-out inside the acquire itself, which passes a slot it was just
            # given on to the next waiter: no task in between to lose it.
            async with asyncio.timeout(self.queue_wait):
                await self._slots.acquire()
        except TimeoutError:
            self.metrics.rejected("overload")
            response = error_response(
                503, Overloaded.code, "too many requests in flight; retry after a second"
            )
            response.headers["Retry-After"] = "1"
            await response(scope, receive, send)
            return
        self.metrics.in_flight(+1)
        try:
            await app(scope, receive, send)
        finally:
            self.metrics.in_flight(-1)
            self._slots.release()


class InFlightLimit:
    """ASGI middleware: every request runs in a slot of ``in_flight``, except ``/healthz``,
    ``/metrics``, the inspector's static files, and those under ``gated``: their gate takes the
    slot itself, once the credential is checked, the tenant's share claimed and the body
    arrived, so that neither a request refused on the way nor a body still arriving holds one."""

    def __init__(self, app: ASGIApp, in_flight: InFlight, gated: tuple[str, ...] = ()) -> None:
        self.app = app
        self.in_flight = in_flight
        self.gated = gated

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in _EXEMPT
            or scope["path"].startswith(_STATIC)
            or scope["path"].startswith(self.gated)
        ):
            await self.app(scope, receive, send)
            return
        await self.in_flight.run(self.app, scope, receive, send)


class TenantShares:
    """Requests in flight per tenant, at most ``share`` each, so that one tenant's slow or held
    requests cannot take every slot of the in-flight bound: beyond its share a tenant gets 429
    while the rest of the bound serves the others.

    Counted where the credential is checked, before the request's body is read (the gates of
    ``/v1`` and ``/mcp``), and only from the event loop, so no lock is needed.
    """

    def __init__(self, share: int) -> None:
        self.share = share
        self._held: dict[UUID, int] = {}

    def claim(self, tenant_id: UUID) -> bool:
        """Count one more request of ``tenant_id``; False (nothing counted) over its share."""
        held = self._held.get(tenant_id, 0)
        if held >= self.share:
            return False
        self._held[tenant_id] = held + 1
        return True

    def release(self, tenant_id: UUID) -> None:
        held = self._held.pop(tenant_id, 0) - 1
        if held > 0:
            self._held[tenant_id] = held


class FailedLogins:
    """Failed authentications per client address: a burst of ``burst``, then ``rate`` per
    second. An address over it is refused before its credential is even looked at.

    Counted in each process, unlike the tenants' rates: a guess costs the guesser a request
    while a shared count would cost the database a write per failure, which is the load an
    attack would then aim at. N processes allow N times the burst and rate."""

    def __init__(self, rate: float = 1.0, burst: float = 20.0) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets = TokenBuckets()

    def blocked_for(self, address: str) -> float:
        return self._buckets.peek(address, self.rate, self.burst)

    def failed(self, address: str) -> None:
        self._buckets.take(address, self.rate, self.burst)


class Throttles:
    """What a credential passes before its request runs (REST and ``/mcp`` alike)."""

    def __init__(
        self,
        metrics: Metrics,
        failed_per_s: float,
        failed_burst: float,
        tenant_share: int,
        pool: Callable[[], ConnectionPool[Connection]],
    ) -> None:
        self.metrics = metrics
        self.failed = FailedLogins(failed_per_s, failed_burst)
        self.tenants = TenantRates(pool, metrics)
        self.shares = TenantShares(tenant_share)

    def admit(
        self, address: str, authenticate: Callable[[], Principal | None], refusal: str
    ) -> Principal:
        """The principal ``authenticate`` finds, or Unauthorized (counted against the address),
        or RateLimited (the address failed too often, or the tenant is over its rate)."""
        wait = self.failed.blocked_for(address)
        if wait:
            self.metrics.rejected("failed_auth")
            raise RateLimited("too many failed authentications from this address", wait)
        principal = authenticate()
        if principal is None:
            self.failed.failed(address)
            raise Unauthorized(refusal)
        if principal.tenant_id is not None:
            wait = self.tenants.admit(principal.tenant_id, principal.rate_limit_per_s)
            if wait:
                self.metrics.rejected("rate_limit")
                raise RateLimited(
                    f"this tenant's rate limit ({principal.rate_limit_per_s:g} requests/s) is "
                    "reached",
                    wait,
                )
        return principal

    def claim(self, principal: Principal) -> None:
        """Count one more request of the principal's tenant in flight (``release`` it when the
        answer is sent); RateLimited if the tenant already holds its share."""
        if principal.tenant_id is not None and not self.shares.claim(principal.tenant_id):
            self.metrics.rejected("tenant_share")
            raise RateLimited(
                f"this tenant already has {self.shares.share} requests in flight, its share of "
                "the server; retry after a second",
                1.0,
            )

    def release(self, principal: Principal) -> None:
        if principal.tenant_id is not None:
            self.shares.release(principal.tenant_id)


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
