"""``/v1/tenants`` and API keys: the admin token's routes."""

from __future__ import annotations

from fastapi import APIRouter, Response

from konstruct_memory.api.deps import AdminPrincipal, EngineDep, route_options
from konstruct_memory.operations import (
    BY_NAME,
    ApiKeyCreated,
    ApiKeys,
    CreateApiKeyRequest,
    CreateTenantRequest,
    KeySpec,
    ListApiKeysRequest,
    ListTenantsRequest,
    RevokeApiKeyRequest,
    TenantCreated,
    Tenants,
    build,
)

router = APIRouter(tags=["administration"])


@router.api_route(**route_options(BY_NAME["create_tenant"]))
def create_tenant(
    body: CreateTenantRequest, principal: AdminPrincipal, engine: EngineDep
) -> TenantCreated:
    return engine.run(principal, body)


@router.api_route(**route_options(BY_NAME["list_tenants"]))
def list_tenants(principal: AdminPrincipal, engine: EngineDep) -> Tenants:
    return engine.run(principal, ListTenantsRequest())


@router.api_route(**route_options(BY_NAME["create_api_key"]))
def create_api_key(
    tenant_id: str, principal: AdminPrincipal, engine: EngineDep, body: KeySpec | None = None
) -> ApiKeyCreated:
    """Without a body: read and write, bound to no agent or user."""
    spec = (body or KeySpec()).model_dump(exclude_unset=True)
    return engine.run(principal, build(CreateApiKeyRequest, tenant_id=tenant_id, **spec))


@router.api_route(**route_options(BY_NAME["list_api_keys"]))
def list_api_keys(tenant_id: str, principal: AdminPrincipal, engine: EngineDep) -> ApiKeys:
    return engine.run(principal, build(ListApiKeysRequest, tenant_id=tenant_id))


@router.api_route(**route_options(BY_NAME["revoke_api_key"]), response_class=Response)
def revoke_api_key(key_id: str, principal: AdminPrincipal, engine: EngineDep) -> Response:
    engine.run(principal, build(RevokeApiKeyRequest, key_id=key_id))
    return Response(status_code=204)
