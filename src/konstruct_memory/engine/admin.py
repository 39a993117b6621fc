"""Tenant and key administration, on a short-lived owner connection (rare and privileged)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import asdict
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from konstruct_memory.auth import keys
from konstruct_memory.auth.principal import Principal
from konstruct_memory.db.tenant import Connection
from konstruct_memory.engine.resources import Resources
from konstruct_memory.engine.session import Session
from konstruct_memory.errors import ConfigurationError, NotFound
from konstruct_memory.operations import (
    ApiKey,
    ApiKeyCreated,
    ApiKeyRevoked,
    ApiKeys,
    CreateApiKeyRequest,
    CreateTenantRequest,
    ListApiKeysRequest,
    ListTenantsRequest,
    RevokeApiKeyRequest,
    Tenant,
    TenantCreated,
    Tenants,
    UpdateTenantRequest,
)
from konstruct_memory.operations.admin import DEFAULT_SCOPES
from konstruct_memory.operations.fields import SCOPES
from konstruct_memory.store import tenants
from konstruct_memory.store.rows import KeyRow, TenantRow


def owner_connection(
    resources: Resources, *, autocommit: bool = False
) -> AbstractContextManager[Connection]:
    """A new owner connection; without autocommit, its block is one transaction."""
    if resources.admin_url is None:
        raise ConfigurationError(
            "tenant administration needs the owner connection: set "
            "KONSTRUCT_MEMORY_ADMIN_DATABASE_URL (see docs/operations.md, 'External PostgreSQL')"
        )
    return psycopg.connect(resources.admin_url, row_factory=dict_row, autocommit=autocommit)


def create_tenant(resources: Resources, request: CreateTenantRequest) -> TenantCreated:
    """The tenant and its first key (read and write, unbound), in one transaction."""
    with owner_connection(resources) as conn:
        tenant = tenants.create_tenant(conn, request.name)
        secret = keys.new_key()
        key = tenants.create_api_key(
            conn,
            tenant.id,
            keys.key_hash(secret),
            name=None,
            agent_id=None,
            user_id=None,
            scopes=list(DEFAULT_SCOPES),
        )
    return TenantCreated(**tenant_of(tenant).model_dump(), api_key_id=key.id, api_key=secret)


def list_tenants(resources: Resources, request: ListTenantsRequest) -> Tenants:
    with owner_connection(resources) as conn:
        rows = tenants.list_tenants(conn)
    return Tenants(tenants=[tenant_of(row) for row in rows])


def create_api_key(resources: Resources, request: CreateApiKeyRequest) -> ApiKeyCreated:
    """A new key; its secret is returned here and never again (only its hash is stored)."""
    secret = keys.new_key()
    with owner_connection(resources) as conn:
        _require_tenant(conn, request.tenant_id)
        row = tenants.create_api_key(
            conn,
            request.tenant_id,
            keys.key_hash(secret),
            name=request.name,
            agent_id=request.agent_id,
            user_id=request.user_id,
            scopes=list(request.scopes),
        )
    return ApiKeyCreated(**_key(row).model_dump(), api_key=secret)


def list_api_keys(resources: Resources, request: ListApiKeysRequest) -> ApiKeys:
    with owner_connection(resources) as conn:
        _require_tenant(conn, request.tenant_id)
        rows = tenants.list_api_keys(conn, request.tenant_id)
    return ApiKeys(keys=[_key(row) for row in rows])


def revoke_api_key(resources: Resources, request: RevokeApiKeyRequest) -> ApiKeyRevoked:
    """Refuse the key from now on (revoking twice is fine); NotFound for an unknown id."""
    with owner_connection(resources) as conn:
        if not tenants.revoke_api_key(conn, request.key_id):
            raise NotFound("key_id: no such API key")
    return ApiKeyRevoked(id=request.key_id)


def update_tenant(resources: Resources, request: UpdateTenantRequest) -> Tenant:
    """Change the fields the request sets (``retention_days: None`` is a change: keep all)."""
    changes = request.model_dump(include=request.model_fields_set - {"tenant_id"})
    with owner_connection(resources) as conn:
        row = tenants.update_tenant(conn, request.tenant_id, changes)
    if row is None:
        raise NotFound("tenant_id: no such tenant")
    return tenant_of(row)


def owner_session(resources: Resources, tenant_id: UUID) -> Session:
    """The tenant's owner, for an admin route that names the tenant in its path; NotFound
    unless the tenant exists."""
    with owner_connection(resources) as conn:
        _require_tenant(conn, tenant_id)
    return Session(resources, Principal.owner(tenant_id))


def _require_tenant(conn: Connection, tenant_id: UUID) -> None:
    if not tenants.tenant_exists(conn, tenant_id):
        raise NotFound("tenant_id: no such tenant")


def tenant_of(row: TenantRow) -> Tenant:
    return Tenant(**asdict(row))


def _key(row: KeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        agent_id=row.agent_id,
        user_id=row.user_id,
        scopes=[s for s in SCOPES if s in row.scopes],
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
