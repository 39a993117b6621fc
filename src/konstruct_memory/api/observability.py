"""Prometheus metrics (one registry per app, no globals) and JSON-lines request logs."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from psycopg_pool import ConnectionPool

from konstruct_memory import tracing
from konstruct_memory.api.errors import error_response
from konstruct_memory.db.replicas import ReplicaSet

log = logging.getLogger("konstruct_memory.access")

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _PoolCollector(Collector):
    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool

    def collect(self) -> Iterable[GaugeMetricFamily]:
        stats = self.pool.get_stats()
        for name, key, doc in [
            ("konstruct_memory_pool_size", "pool_size", "Connections open in the pool"),
            ("konstruct_memory_pool_available", "pool_available", "Idle pooled connections"),
            ("konstruct_memory_pool_waiting", "requests_waiting", "Requests waiting"),
        ]:
            yield GaugeMetricFamily(name, doc, value=stats.get(key, 0))


class _ReplicaCollector(Collector):
    def __init__(self, replicas: ReplicaSet) -> None:
        self.replicas = replicas

    def collect(self) -> Iterable[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "konstruct_memory_replica_up",
            "1 if the replica answers and is a standby",
            labels=["replica"],
        )
        lag = GaugeMetricFamily(
            "konstruct_memory_replica_lag_seconds",
            "Age of the newest primary WAL position the replica has replayed",
            labels=["replica"],
        )
        for state in self.replicas.states():
            up.add_metric([state.name], 1.0 if state.up else 0.0)
            if state.lag_s is not None:
                lag.add_metric([state.name], state.lag_s)
        yield up
        yield lag
        yield GaugeMetricFamily(
            "konstruct_memory_primary_up",
            "1 if the primary answered the last replica check",
            value=1.0 if self.replicas.primary_up else 0.0,
        )


class Metrics:
    """Request counts and latencies per route and status, embedding and database time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "konstruct_memory_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "konstruct_memory_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self._embedding = Histogram(
            "konstruct_memory_embedding_seconds",
            "Time embedding texts",
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self._database = Histogram(
            "konstruct_memory_database_seconds",
            "Time in tenant transactions",
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self._rejected = Counter(
            "konstruct_memory_rejected",
            "Requests refused before they ran: overload (503), rate_limit, tenant_share and "
            "failed_auth (429)",
            ["reason"],
            registry=self.registry,
        )
        self._rate_checks = Counter(
            "konstruct_memory_rate_checks",
            "Rate-limited tenants' requests by where their limit was checked: shared (the "
            "database's bucket), known_refusal (refused from the last answer, without asking) "
            "and local (this process's bucket, while the shared one does not answer)",
            ["checked"],
            registry=self.registry,
        )
        self._reads = Counter(
            "konstruct_memory_reads",
            "Reads (recall, history, context, by id, scopes) by where they ran",
            ["served_by"],
            registry=self.registry,
        )
        self._in_flight = Gauge(
            "konstruct_memory_requests_in_flight",
            "Requests being served (the in-flight limit's count)",
            registry=self.registry,
        )

    def read_served(self, by: str) -> None:
        self._reads.labels(by).inc()

    def watch_replicas(self, replicas: ReplicaSet) -> None:
        self.registry.register(_ReplicaCollector(replicas))

    def rejected(self, reason: str) -> None:
        self._rejected.labels(reason).inc()

    def rate_check(self, checked: str) -> None:
        self._rate_checks.labels(checked).inc()

    def in_flight(self, change: int) -> None:
        self._in_flight.inc(change)

    def embedding(self, seconds: float) -> None:
        self._embedding.observe(seconds)

    def database(self, seconds: float) -> None:
        self._database.observe(seconds)

    def watch_pool(self, pool: ConnectionPool[Any]) -> None:
        self.registry.register(_PoolCollector(pool))

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def install_request_observer(app: FastAPI, metrics: Metrics) -> None:
    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as exc:
            # Answered here, inside Starlette's outermost middleware, which would otherwise
            # re-raise and let the server log a traceback carrying database error text.
            log.error(
                json.dumps(
                    {
                        "event": "unhandled error",
                        "error_class": type(exc).__name__,
                        "route": getattr(request.scope.get("route"), "path", None),
                    }
                )
            )
            response = error_response(500, "internal_error", "internal error")
        elapsed = time.perf_counter() - started
        route = _route_label(request)
        metrics.requests.labels(request.method, route, str(response.status_code)).inc()
        metrics.latency.labels(request.method, route).observe(elapsed)
        tenant = getattr(request.state, "tenant_id", None)
        # Route templates and ids only: never bodies, queries or content.
        log.info(
            json.dumps(
                {
                    "event": "request",
                    "method": request.method,
                    "route": route,
                    "status": response.status_code,
                    "ms": round(elapsed * 1000, 2),
                    "tenant": str(tenant) if tenant else None,
                }
            )
        )
        return response


def configure_json_logging(level: int = logging.INFO) -> None:
    """Every logger (ours, uvicorn's, the pool's, Alembic's) as JSON lines on stderr.

    One handler on the root logger, so records of libraries that log on their own loggers
    come out in the same format; ours at ``level``, theirs at WARNING and above.
    """

    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    ours = logging.getLogger("konstruct_memory")
    ours.handlers = []
    ours.setLevel(level)
    ours.propagate = True
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "psycopg", "alembic"):
        theirs = logging.getLogger(name)
        theirs.handlers = []  # whatever they installed themselves
        theirs.propagate = True
        theirs.disabled = False  # a dictConfig elsewhere may have disabled existing loggers


class JsonLines(logging.Formatter):
    """A record as one JSON object: its message's own fields if it is one, the time, level
    and logger, and, within a traced request, the trace's id."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        try:
            payload = json.loads(message)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            payload = {"message": message}
        payload |= {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
        }
        if hasattr(record, "error_class"):
            payload["error_class"] = record.error_class
        trace_id = tracing.active().trace_id()
        if trace_id is not None:
            payload["trace_id"] = trace_id
        return json.dumps(payload)


def _route_label(request: Request) -> str:
    """The route template (never the raw path of an API route, which would hold ids)."""
    matched = request.scope.get("route")
    if matched is not None:
        return str(matched.path)
    if "endpoint" in request.scope:  # Starlette's own routes (/docs, /openapi.json): static
        return request.url.path
    return "unmatched"
