"""A tenant's ``rate_limit_per_s``, one budget for every ``serve`` process and host.

The bucket lives in PostgreSQL (``rate_buckets``, migration 016): every request of a limited
tenant takes its token there, in one function call. What that costs and what this module
does to keep it small:

* A tenant without a limit costs nothing: its requests never reach this table.
* A refusal is remembered: the database answers "no token for W seconds", and no process can
  put a token back sooner, so this process refuses the tenant's next requests for W seconds
  without asking again. A tenant far over its limit therefore costs the database about one
  question per token, per process, rather than one per request.
* When the shared bucket cannot answer (the primary is down or slow: no pooled connection in
  the pool's wait, a lock or statement time-out), the tenant is counted in this process
  instead, as before migration 016, for ``LOCAL_FOR_S`` seconds before the database is asked
  again. Neither fail closed (every limited tenant refused while reads still go on against the
  replicas) nor fail open (a limited tenant unbounded during an outage): N processes allow up
  to N times the rate for as long as it lasts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from uuid import UUID

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from konstruct_memory.api.observability import Metrics
from konstruct_memory.db.tenant import Connection, tenant_transaction_on
from konstruct_memory.store import rate_buckets

log = logging.getLogger("konstruct_memory.api")

# After the shared bucket failed, how long this process counts on its own before asking the
# database again: long enough that an unreachable primary does not add the pool's wait to
# every request, short enough that the shared limit is back within a second of the primary.
LOCAL_FOR_S = 1.0


def burst_of(rate: float) -> float:
    """Bursts of one second (at least one request)."""
    return max(1.0, rate)


class TokenBuckets:
    """Token buckets by key (a tenant, a client address), in this process, refilled
    continuously; the least recently used keys are forgotten beyond ``capacity`` keys, so
    memory stays bounded."""

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


class KnownRefusals:
    """Until when the database said a tenant has no token, and at which rate it said so (a
    changed limit makes the answer stale). Bounded like the buckets."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._until: OrderedDict[UUID, tuple[float, float]] = OrderedDict()

    def wait(self, tenant_id: UUID, rate: float, now: float) -> float:
        """The seconds still to wait by the last refusal at ``rate``; 0 if none applies."""
        with self._lock:
            until, said_at_rate = self._until.get(tenant_id, (0.0, rate))
            if until <= now or said_at_rate != rate:
                self._until.pop(tenant_id, None)
                return 0.0
        return until - now

    def remember(self, tenant_id: UUID, rate: float, until: float) -> None:
        with self._lock:
            self._until.pop(tenant_id, None)
            self._until[tenant_id] = (until, rate)
            if len(self._until) > self.capacity:
                self._until.popitem(last=False)


class TenantRates:
    """Per-tenant request rates on the shared buckets, with this process's fast refusals and
    its own buckets while the shared ones cannot answer."""

    def __init__(self, pool: Callable[[], ConnectionPool[Connection]], metrics: Metrics) -> None:
        self.pool = pool
        self.metrics = metrics
        self.local = TokenBuckets()
        self.refusals = KnownRefusals()
        self._lock = threading.Lock()
        self._shared_from = 0.0  # monotonic time from which the database is asked again

    def admit(self, tenant_id: UUID, rate: float | None) -> float:
        """0 to go ahead, else the seconds to wait. Runs off the event loop: it may wait for
        the database."""
        if rate is None:
            return 0.0
        now = time.monotonic()
        known = self.refusals.wait(tenant_id, rate, now)
        if known:
            self.metrics.rate_check("known_refusal")
            return known
        if now >= self._shared_from:
            try:
                wait = self._take_shared(tenant_id, rate)
            except psycopg.errors.LockNotAvailable:
                # The database answers, but this tenant's bucket stayed locked past the lock
                # timeout: a crowd of its own requests is taking tokens at once. Counting in
                # the process would let each process admit its own burst (the limit times the
                # processes); refusing this one request briefly keeps the limit.
                self.metrics.rate_check("shared")
                return min(1.0, 1.0 / rate)
            except (PoolTimeout, psycopg.OperationalError) as exc:
                self._count_locally_for_a_while(exc)
            else:
                self.metrics.rate_check("shared")
                if wait:
                    self.refusals.remember(tenant_id, rate, now + wait)
                return wait
        self.metrics.rate_check("local")
        return self.local.take(tenant_id, rate, burst_of(rate))

    def _take_shared(self, tenant_id: UUID, rate: float) -> float:
        # One pipeline: BEGIN, the tenant switch, the call and COMMIT go out together and the
        # answer is read after them, so the check is one round trip, and the tenant's row is
        # locked only while the server runs them, never while this process is scheduled out
        # between reading the answer and sending COMMIT (which, under load, made one busy
        # tenant's requests queue on the lock for hundreds of milliseconds).
        with self.pool().connection() as conn, conn.pipeline():
            with tenant_transaction_on(conn, tenant_id) as tx:
                answer = rate_buckets.take_token(tx, rate, burst_of(rate))
            wait = answer.seconds_to_wait()
        if self._shared_from:
            with self._lock:
                if self._shared_from:
                    self._shared_from = 0.0
                    log.warning("shared rate limits answer again; counting them in the database")
        return wait

    def _count_locally_for_a_while(self, exc: Exception) -> None:
        with self._lock:
            first = not self._shared_from
            self._shared_from = time.monotonic() + LOCAL_FOR_S
        if first:
            log.warning(
                "shared rate limits unavailable (%s: %s); each process counts tenants' rates on "
                "its own until the database answers",
                type(exc).__name__,
                str(exc).strip().splitlines()[0] if str(exc).strip() else "",
            )
