"""Tenant and API-key administration (the admin token, or the owner connection)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from konstruct_memory.operations.base import Request, Result
from konstruct_memory.operations.fields import Name, Scope, Scopes, UserId, Uuid

DEFAULT_SCOPES: tuple[Scope, ...] = ("read", "write")


class Tenant(Result):
    id: UUID
    name: str
    created_at: datetime
    retention_days: int | None = Field(
        default=None, description="Turns older than this many days are removed; null: kept"
    )
    audit_reads: bool = Field(default=False, description="Reads are recorded in the audit trail")
    audit_query_text: bool = Field(
        default=False, description="Audited reads also record their query text"
    )
    rate_limit_per_s: float | None = Field(
        default=None, description="Requests per second its keys may make; null: no limit"
    )


class TenantCreated(Tenant):
    """The new tenant and its first API key (read and write, bound to no agent or user).
    The key is shown here and never again."""

    api_key_id: UUID
    api_key: str


class CreateTenantRequest(Request[TenantCreated]):
    name: Name


class Tenants(Result):
    tenants: list[Tenant]


class ListTenantsRequest(Request[Tenants]):
    pass


class ApiKey(Result):
    """A key as listed: never its secret."""

    id: UUID
    tenant_id: UUID
    name: str | None
    agent_id: UUID | None = Field(description="The only agent the key may act for, if bound")
    user_id: str | None = Field(description="The only user the key may act for, if bound")
    scopes: list[Scope]
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKey):
    """A new key; ``api_key`` is the secret, shown here and never again."""

    api_key: str


class KeySpec(Request[ApiKeyCreated]):
    """What a new key may do: its scopes, and optionally the one agent and user it acts for."""

    name: Name | None = None
    agent_id: Uuid | None = None
    user_id: UserId | None = None
    scopes: Scopes = Field(default_factory=lambda: list(DEFAULT_SCOPES))


class CreateApiKeyRequest(KeySpec):
    """Without a body: read and write, bound to no agent or user."""

    tenant_id: Uuid


class ApiKeys(Result):
    keys: list[ApiKey]


class ListApiKeysRequest(Request[ApiKeys]):
    tenant_id: Uuid


class ApiKeyRevoked(Result):
    id: UUID


class RevokeApiKeyRequest(Request[ApiKeyRevoked]):
    key_id: Uuid


class Identity(Result):
    """Who a key is: its tenant, scopes and binding (what an agent runtime needs to know)."""

    tenant_id: UUID
    key_id: UUID | None
    scopes: list[Scope]
    agent_id: UUID | None
    user_id: str | None


class WhoAmIRequest(Request[Identity]):
    """The presenting key's tenant, scopes and binding."""
