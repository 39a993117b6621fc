"""``Client`` and ``AdminClient``: the operations over HTTP, blocking."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar
from uuid import UUID

import httpx

from konstruct_memory.client._wire import connection, decode, encode, required, unreachable
from konstruct_memory.operations import (
    UNCHANGED,
    ApiKey,
    ApiKeyCreated,
    AuditEntry,
    Context,
    ContextRequest,
    CreateApiKeyRequest,
    CreateTenantRequest,
    EraseForTenantRequest,
    EraseRequest,
    Erasure,
    GetTurnRequest,
    HistoryRequest,
    Hit,
    Identity,
    ListApiKeysRequest,
    ListAuditForTenantRequest,
    ListAuditRequest,
    ListErasuresForTenantRequest,
    ListErasuresRequest,
    ListScopesRequest,
    ListTenantsRequest,
    RecallAcrossUsersRequest,
    RecallRequest,
    RememberRequest,
    Request,
    Result,
    RevokeApiKeyRequest,
    ScopeSummary,
    StoredTurn,
    Tenant,
    TenantCreated,
    Turn,
    Unchanged,
    UpdateTenantRequest,
    WhoAmIRequest,
    build,
)
from konstruct_memory.operations.base import arguments
from konstruct_memory.operations.fields import Role
from konstruct_memory.operations.lifecycle import changes_of

R = TypeVar("R", bound=Result)


class _Http:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(**connection(base_url, token, timeout), transport=transport)

    def _send(self, request: Request[R]) -> R | None:
        try:
            response = self._http.request(**encode(request))
        except httpx.TransportError as exc:
            raise unreachable(exc) from exc
        return decode(request, response)

    def run(self, request: Request[R]) -> R:
        """Any request of the contract; the operation-named methods are built on it."""
        return required(self._send(request))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Client(_Http):
    """Memory for the tenant whose API key this is (the server takes the tenant from it).

    Same method names, parameters and errors as the library's ``TenantMemory``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout=timeout, transport=transport)

    def whoami(self) -> Identity:
        """The key's tenant, scopes and binding."""
        return self.run(WhoAmIRequest())

    def remember(self, turns: Sequence[Turn | Mapping[str, Any]]) -> list[StoredTurn]:
        return self.run(build(RememberRequest, turns=turns)).turns

    def remember_one(self, turn: Turn | Mapping[str, Any]) -> StoredTurn:
        return self.remember([turn])[0]

    def recall(
        self,
        agent_id: UUID | str | None = None,
        user_id: str | None = None,
        query: str | None = None,
        k: int = 10,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        conversation_id: str | None = None,
        roles: Sequence[Role] | None = None,
        min_score: float | None = None,
    ) -> list[Hit]:
        return self.run(build(RecallRequest, **arguments(locals()))).hits

    def recall_across_users(
        self,
        agent_id: UUID | str | None = None,
        query: str | None = None,
        k: int = 10,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        conversation_id: str | None = None,
        roles: Sequence[Role] | None = None,
        min_score: float | None = None,
    ) -> list[Hit]:
        return self.run(build(RecallAcrossUsersRequest, **arguments(locals()))).hits

    def history(
        self,
        agent_id: UUID | str | None = None,
        user_id: str | None = None,
        limit: int = 20,
        conversation_id: str | None = None,
        before: UUID | str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        roles: Sequence[Role] | None = None,
    ) -> list[StoredTurn]:
        return self.run(build(HistoryRequest, **arguments(locals()))).turns

    def get_turn(
        self,
        turn_id: UUID | str,
        agent_id: UUID | str | None = None,
        user_id: str | None = None,
    ) -> StoredTurn:
        return self.run(build(GetTurnRequest, **arguments(locals())))

    def list_scopes(
        self,
        agent_id: UUID | str | None = None,
        user_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[ScopeSummary]:
        return (self.run(build(ListScopesRequest, **arguments(locals())))).scopes

    def context(
        self,
        agent_id: UUID | str | None = None,
        user_id: str | None = None,
        query: str | None = None,
        recent: int = 10,
        k: int = 5,
        max_tokens: int | None = None,
        conversation_id: str | None = None,
        min_score: float | None = None,
    ) -> Context:
        return self.run(build(ContextRequest, **arguments(locals())))

    def erase(
        self,
        agent_id: UUID | str | None = None,
        user_id: str | None = None,
        turn_ids: Sequence[UUID | str] | None = None,
    ) -> Erasure:
        """Erase an agent's, a user's or an agent's user's turns (needs the ``erase`` scope)."""
        return self.run(build(EraseRequest, **arguments(locals())))

    def list_erasures(
        self,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = 100,
    ) -> list[Erasure]:
        return (self.run(build(ListErasuresRequest, **arguments(locals())))).erasures

    def list_audit(
        self,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = 100,
        agent_id: UUID | str | None = None,
        user_id: str | None = None,
    ) -> list[AuditEntry]:
        return (self.run(build(ListAuditRequest, **arguments(locals())))).entries


class AdminClient(_Http):
    """Tenant and key administration over HTTP, with the admin token."""

    def __init__(
        self,
        base_url: str,
        admin_token: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, admin_token, timeout=timeout, transport=transport)

    def create_tenant(self, name: str) -> TenantCreated:
        """The new tenant and its first API key (shown once)."""
        return self.run(build(CreateTenantRequest, name=name))

    def list_tenants(self) -> list[Tenant]:
        return self.run(ListTenantsRequest()).tenants

    def create_api_key(
        self,
        tenant_id: UUID | str,
        name: str | None = None,
        agent_id: UUID | str | None = None,
        user_id: str | None = None,
        scopes: Sequence[str] | None = None,
    ) -> ApiKeyCreated:
        """A new key; ``scopes`` default to read and write. The secret is shown only now."""
        return self.run(build(CreateApiKeyRequest, **arguments(locals())))

    def list_api_keys(self, tenant_id: UUID | str) -> list[ApiKey]:
        return self.run(build(ListApiKeysRequest, tenant_id=tenant_id)).keys

    def revoke_api_key(self, key_id: UUID | str) -> None:
        self._send(build(RevokeApiKeyRequest, key_id=key_id))

    def update_tenant(
        self,
        tenant_id: UUID | str,
        *,
        retention_days: int | Unchanged | None = UNCHANGED,
        audit_reads: bool | None = None,
        audit_query_text: bool | None = None,
        rate_limit_per_s: float | Unchanged | None = UNCHANGED,
    ) -> Tenant:
        """Change a tenant's policy; what is not given stays (``retention_days=None``: keep)."""
        changes = changes_of(
            tenant_id, retention_days, audit_reads, audit_query_text, rate_limit_per_s
        )
        return self.run(build(UpdateTenantRequest, **changes))

    def erase_for_tenant(
        self,
        tenant_id: UUID | str,
        agent_id: UUID | str | None = None,
        user_id: str | None = None,
        turn_ids: Sequence[UUID | str] | None = None,
    ) -> Erasure:
        return self.run(build(EraseForTenantRequest, **arguments(locals())))

    def list_erasures_for_tenant(
        self,
        tenant_id: UUID | str,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = 100,
    ) -> list[Erasure]:
        return self.run(build(ListErasuresForTenantRequest, **arguments(locals()))).erasures

    def list_audit_for_tenant(
        self,
        tenant_id: UUID | str,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = 100,
        agent_id: UUID | str | None = None,
        user_id: str | None = None,
    ) -> list[AuditEntry]:
        return self.run(build(ListAuditForTenantRequest, **arguments(locals()))).entries
