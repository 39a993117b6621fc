"""Load the service refuses rather than queues: requests in flight beyond a bound, a tenant over
its rate, an address that keeps failing authentication.

Waiting is the failure mode of an overloaded memory: every agent's reply stalls behind it. So
the excess is answered at once (after at most a short queue wait) with a status and a
``Retry-After`` that a client can act on.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from uuid import UUID

from starlette.types import ASGIApp, Receive, Scope, Send

from konstruct_memory.api.errors import error_response
from konstruct_memory.api.observability import Metrics
from konstruct_memory.auth.principal import Principal
from konstruct_memory.errors import Overloaded, RateLimited, Unauthorized

# Never limited: a load balancer must see health while the service sheds load.
_EXEMPT = ("/healthz", "/metrics")


class InFlightLimit:
    """ASGI middleware: at most ``limit`` requests in flight; one more waits at most
    ``queue_wait`` seconds for a slot, then gets 503 with ``Retry-After: 1``."""

    def __init__(self, app: ASGIApp, limit: int, queue_wait: float, metrics: Metrics) -> None:
        self.app = app
        self.queue_wait = queue_wait
        self.metrics = metrics
        self._slots = asyncio.Semaphore(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _EXEMPT:
            await self.app(scope, receive, send)
            return
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
            await self.app(scope, receive, send)
        finally:
            self.metrics.in_flight(-1)
            self._slots.release()


class TokenBuckets:
    """Token buckets by key (a tenant, a client address), refilled continuously; the least
    recently used keys are forgotten beyond ``capacity`` keys, so memory stays bounded."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._buckets: OrderedDict[object, tuple[float, float]] = OrderedDict()

    def take(self, key: object, rate: float, burst: float) -> float:
        """Spend one token; 0 if there was one, else the seconds until there will be."""
        now = time.monotonic()
        with self._lock:
            tokens, since = self._buckets.pop(key, (burst, now))
            tokens = min(burst, tokens + (now - since) * rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / rate
            self._buckets[key] = (tokens - 1 if tokens >= 1 else tokens, now)
            if len(self._buckets) > self.capacity:
                self._buckets.popitem(last=False)
        return wait

    def peek(self, key: object, rate: float, burst: float) -> float:
        """The seconds until ``key`` has a token again (0: it has one), spending nothing."""
        now = time.monotonic()
        with self._lock:
            tokens, since = self._buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - since) * rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / rate


class TenantRates:
    """Per-tenant request rates (``rate_limit_per_s`` on the tenant), bursts of one second."""

    def __init__(self) -> None:
        self._buckets = TokenBuckets()

    def admit(self, tenant_id: UUID, rate: float | None) -> float:
        """0 to go ahead, else the seconds to wait."""
        if rate is None:
            return 0.0
        return self._buckets.take(tenant_id, rate, burst=max(1.0, rate))


class FailedLogins:
    """Failed authentications per client address: a burst of ``burst``, then ``rate`` per
    second. An address over it is refused before its credential is even looked at."""

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

    def __init__(self, metrics: Metrics, failed_per_s: float, failed_burst: float) -> None:
        self.metrics = metrics
        self.failed = FailedLogins(failed_per_s, failed_burst)
        self.tenants = TenantRates()

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


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
