"""The HTTP API: thin routes over the service. ``create_app(settings)`` builds one."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from konstruct_memory.api import schemas
from konstruct_memory.api.errors import install_error_handlers
from konstruct_memory.api.limits import BodySizeLimit
from konstruct_memory.api.observability import Metrics, install_request_observer
from konstruct_memory.config import Settings
from konstruct_memory.errors import ConfigurationError, Unauthorized
from konstruct_memory.memory import Memory
from konstruct_memory.service import TenantMemory

_bearer = HTTPBearer(auto_error=False, description="A tenant API key, or the admin token")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _memory(request: Request) -> Memory:
    memory: Memory = request.app.state.memory
    return memory


def _as_admin(request: Request, credentials: Credentials) -> None:
    presented = credentials.credentials if credentials else ""
    expected: str = request.app.state.admin_token
    if not secrets.compare_digest(presented.encode(), expected.encode()):
        raise Unauthorized("this route needs the admin token")


def _as_tenant(request: Request, credentials: Credentials) -> TenantMemory:
    """The tenant comes from the key, and only from the key."""
    memory = _memory(request)
    tenant_id = memory.authenticate(credentials.credentials) if credentials else None
    if tenant_id is None:
        raise Unauthorized("missing, unknown or revoked API key")
    request.state.tenant_id = tenant_id
    return memory.tenant(tenant_id)


Tenant = Annotated[TenantMemory, Depends(_as_tenant)]
Admin = Depends(_as_admin)


def create_app(
    settings: Settings | None = None,
    *,
    memory: Memory | None = None,
    admin_token: str | None = None,
    auto_migrate: bool = True,
) -> FastAPI:
    """The API over ``memory`` (opened from ``settings`` at start-up if not given).

    A ``memory`` passed in belongs to the caller and is not closed on shutdown.
    """
    settings = settings or Settings()
    admin_token = admin_token or settings.admin_token
    if not admin_token:
        raise ConfigurationError("the API needs an admin token (KONSTRUCT_MEMORY_ADMIN_TOKEN)")
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.memory = memory or Memory.open(
            settings, observer=metrics, auto_migrate=auto_migrate
        )
        if memory is not None and memory.observer is None:
            memory.observer = metrics
        metrics.watch_pool(app.state.memory.pool)
        try:
            yield
        finally:
            if memory is None:
                app.state.memory.close()

    app = FastAPI(
        title="Konstruct Memory",
        version="0.1.0",
        description="Long-term conversational memory for multi-tenant AI agents.",
        lifespan=lifespan,
    )
    app.state.admin_token = admin_token
    if memory is not None:  # usable before (or without) the lifespan, e.g. in tests
        app.state.memory = memory
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    install_request_observer(app, metrics)
    install_error_handlers(app)

    responses: dict[int | str, dict[str, Any]] = {
        code: {"model": schemas.ErrorOut} for code in (401, 404, 409, 413, 422, 503)
    }

    def route(method: str, path: str, **kwargs: Any) -> Callable[..., Any]:
        return app.api_route(path, methods=[method], responses=responses, **kwargs)

    @route("POST", "/v1/tenants", status_code=201, dependencies=[Admin])
    def create_tenant(body: schemas.TenantIn, request: Request) -> schemas.TenantCreated:
        tenant = _memory(request).create_tenant(body.name)
        key = _memory(request).create_api_key(tenant.id)
        return schemas.TenantCreated(
            id=tenant.id, name=tenant.name, created_at=tenant.created_at, api_key=key.api_key
        )

    @route("GET", "/v1/tenants", dependencies=[Admin])
    def list_tenants(request: Request) -> schemas.TenantList:
        tenants = _memory(request).list_tenants()
        return schemas.TenantList(tenants=[schemas.TenantOut(**vars(t)) for t in tenants])

    @route("POST", "/v1/tenants/{tenant_id}/api-keys", status_code=201, dependencies=[Admin])
    def create_key(tenant_id: UUID, request: Request) -> schemas.KeyCreated:
        key = _memory(request).create_api_key(tenant_id)
        return schemas.KeyCreated(id=key.id, api_key=key.api_key)

    @route("DELETE", "/v1/api-keys/{key_id}", status_code=204, dependencies=[Admin])
    def revoke_key(key_id: UUID, request: Request) -> Response:
        _memory(request).revoke_api_key(key_id)
        return Response(status_code=204)

    @route("POST", "/v1/turns", status_code=201)
    def remember(body: schemas.RememberIn, tenant: Tenant) -> schemas.RememberOut:
        turns = [t.model_dump(exclude_unset=True) for t in body.turns]
        stored = tenant.remember(turns)
        return schemas.RememberOut(
            turns=[schemas.StoredRef(id=t.id, created_at=t.created_at) for t in stored]
        )

    @route("POST", "/v1/recall")
    def recall(body: schemas.RecallIn, tenant: Tenant) -> schemas.RecallOut:
        hits = tenant.recall(**body.model_dump())
        return schemas.RecallOut(hits=[schemas.HitOut(**vars(h)) for h in hits])

    @route("GET", "/v1/history")
    def history(
        tenant: Tenant,
        agent_id: UUID,
        user_id: str,
        limit: Annotated[int, Query(ge=1, le=1000)] = 20,
        conversation_id: str | None = None,
        before: UUID | None = None,
    ) -> schemas.HistoryOut:
        turns = tenant.history(agent_id, user_id, limit, conversation_id, before)
        return schemas.HistoryOut(turns=[schemas.TurnOut(**vars(t)) for t in turns])

    @route("POST", "/v1/context")
    def context(body: schemas.ContextIn, tenant: Tenant) -> schemas.ContextOut:
        result = tenant.context(**body.model_dump())
        return schemas.ContextOut(
            recent=[schemas.TurnOut(**vars(t)) for t in result.recent],
            recalled=[schemas.HitOut(**vars(h)) for h in result.recalled],
            text=result.text,
            tokens=result.tokens,
        )

    @app.get("/healthz", responses={503: {"model": schemas.ErrorOut}})
    def healthz(request: Request) -> dict[str, str]:
        _memory(request).check_health()
        return {"status": "ok"}

    @app.get("/metrics", response_class=Response)
    def prometheus() -> Response:
        body, content_type = metrics.exposition()
        return Response(content=body, media_type=content_type)

    return app
