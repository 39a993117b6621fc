"""``create_app(settings)``: the served app over the engine. The HTTP API's routes and gates,
``/mcp`` behind the same keys and bounds, the inspector's files, ``/healthz`` and ``/metrics``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from konstruct_memory import __version__, tracing
from konstruct_memory.api.admission import PREFIX, KeyGate, NoSniff
from konstruct_memory.api.backpressure import InFlight, InFlightLimit, Throttles
from konstruct_memory.api.errors import ErrorOut, install_error_handlers
from konstruct_memory.api.limits import BodySizeLimit
from konstruct_memory.api.observability import Metrics, install_request_observer
from konstruct_memory.api.routers import health
from konstruct_memory.api.routes import operation_router
from konstruct_memory.config import Settings
from konstruct_memory.errors import ConfigurationError
from konstruct_memory.library import Memory
from konstruct_memory.serving.inspector import inspector_router
from konstruct_memory.serving.mcp_http import PATH as MCP_PATH
from konstruct_memory.serving.mcp_http import mcp_route

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (401, 403, 404, 409, 413, 422, 429, 503)
}


def create_app(
    settings: Settings,
    *,
    memory: Memory | None = None,
    metrics: Metrics | None = None,
    admin_token: str | None = None,
    auto_migrate: bool = True,
    host: str = "127.0.0.1",
) -> FastAPI:
    """The API over ``memory`` (opened from ``settings`` at start-up if not given), with the
    MCP endpoint at ``/mcp`` and the browser inspector's files at ``/inspector``. ``host`` is
    the address served on: on a loopback address the MCP transport refuses requests whose Host
    or Origin is not local (DNS rebinding).

    A ``memory`` passed in belongs to the caller and is not closed on shutdown; ``/metrics``
    shows its embedding and database timings when it was opened with ``metrics`` (the app's
    metrics, new ones if not given) as its observer.
    """
    admin_token = admin_token or settings.admin_token
    if not admin_token:
        raise ConfigurationError("the API needs an admin token (KONSTRUCT_MEMORY_ADMIN_TOKEN)")
    metrics = metrics or Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = memory or Memory.open(settings, observer=metrics, auto_migrate=auto_migrate)
        app.state.memory = opened
        metrics.watch_pool(opened.resources.pool)
        if opened.resources.replicas is not None:
            metrics.watch_replicas(opened.resources.replicas)
        try:
            async with mcp_server.session_manager.run():
                yield
        finally:
            if memory is None:
                opened.close()

    app = FastAPI(
        title="Konstruct Memory",
        version=__version__,
        description="Long-term conversational memory for multi-tenant AI agents.",
        lifespan=lifespan,
    )
    app.state.admin_token = admin_token
    app.state.metrics = metrics
    throttles = Throttles(
        metrics,
        settings.failed_auth_per_s,
        settings.failed_auth_burst,
        settings.tenant_share,
        pool=lambda: app.state.memory.resources.pool,
    )
    app.state.throttles = throttles
    if memory is not None:  # usable before (or without) the lifespan, e.g. in tests
        app.state.memory = memory
    in_flight = InFlight(settings.max_in_flight, settings.queue_wait_s, metrics)
    app.add_middleware(
        KeyGate,
        memory=lambda: app.state.memory,
        throttles=throttles,
        in_flight=in_flight,
        admin_token=admin_token,
        routes=app.router.routes,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    install_request_observer(app, metrics)
    # Added last, so it runs first: a request over the bound costs nothing more (its refusal
    # is counted in konstruct_memory_rejected_total). The gates of /v1 and /mcp take their
    # slots themselves, once a request has been admitted and has arrived.
    app.add_middleware(InFlightLimit, in_flight=in_flight, gated=(PREFIX, MCP_PATH))
    app.add_middleware(NoSniff)
    stages = tracing.active()
    if stages.enabled:  # outermost: authentication and refusals are inside the request's span
        from konstruct_memory.serving.traces import OtelStages, TraceRequests

        if isinstance(stages, OtelStages):
            app.add_middleware(TraceRequests, stages=stages)
    install_error_handlers(app)
    app.include_router(operation_router(), responses=_ERRORS)
    app.include_router(health.router)
    app.include_router(inspector_router())
    route, mcp_server = mcp_route(lambda: app.state.memory, host, throttles, in_flight)
    app.router.routes.append(route)
    return app
