# Generated from asynchronous.py by tools/async_to_sync.py: do not edit it by hand.
# Change asynchronous.py, then run `python tools/async_to_sync.py` to write this again.
"""``Client`` and ``AdminClient``: the operations over HTTP, blocking."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Self, TypeVar

import httpx

from konstruct_memory import consistency
from konstruct_memory.client._wire import (
    connection,
    decode,
    encode,
    required,
    unreachable,
    with_position,
)
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
    Unchanged,
    UpdateTenantRequest,
    WhoAmIRequest,
    build,
)
from konstruct_memory.operations.base import arguments
from konstruct_memory.operations.lifecycle import changes_of
from konstruct_memory.types import (
    AgentId,
    ConversationId,
    ErasureId,
    Instant,
    KeyId,
    KeyScopes,
    ListingOrder,
    Roles,
    TenantId,
    TurnId,
    TurnIds,
    TurnInput,
    UserId,
)

R = TypeVar("R", bound=Result)


class _Http:
    """The connection both clients share: the service's URL, the credential, the timeout,
    and the consistency token: the newest write position the service answered with, sent on
    every later request, so reads see this client's writes whichever process serves them."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        position: str | None = None,
    ) -> None:
        opened = connection(base_url, token, timeout)
        self._http = httpx.Client(**opened, transport=transport)
        self.position = consistency.newest(None, position)

    def _send(self, request: Request[R]) -> R | None:
        sent = with_position(encode(request), self.position)
        try:
            response = self._http.request(**sent)
        except httpx.TransportError as exc:
            raise unreachable(exc) from exc
        self.position = consistency.newest(self.position, response.headers.get(consistency.HEADER))
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
        position: str | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout=timeout, transport=transport, position=position)

    def whoami(self) -> Identity:
        """The key's tenant, scopes and binding."""
        return self.run(WhoAmIRequest())

    def remember(self, turns: Sequence[TurnInput]) -> list[StoredTurn]:
        return self.run(build(RememberRequest, turns=turns)).turns

    def remember_one(self, turn: TurnInput) -> StoredTurn:
        return self.remember([turn])[0]

    def recall(
        self,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        query: str | None = None,
        k: int = 10,
        since: Instant | None = None,
        until: Instant | None = None,
        conversation_id: ConversationId | None = None,
        roles: Roles | None = None,
        min_score: float | None = None,
        as_of: Instant | None = None,
    ) -> list[Hit]:
        return self.run(build(RecallRequest, **arguments(locals()))).hits

    def recall_across_users(
        self,
        agent_id: AgentId | None = None,
        query: str | None = None,
        k: int = 10,
        since: Instant | None = None,
        until: Instant | None = None,
        conversation_id: ConversationId | None = None,
        roles: Roles | None = None,
        min_score: float | None = None,
        as_of: Instant | None = None,
    ) -> list[Hit]:
        return self.run(build(RecallAcrossUsersRequest, **arguments(locals()))).hits

    def history(
        self,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        limit: int = 20,
        conversation_id: ConversationId | None = None,
        before: TurnId | None = None,
        since: Instant | None = None,
        until: Instant | None = None,
        roles: Roles | None = None,
        as_of: Instant | None = None,
    ) -> list[StoredTurn]:
        return self.run(build(HistoryRequest, **arguments(locals()))).turns

    def get_turn(
        self,
        turn_id: TurnId,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
    ) -> StoredTurn:
        return self.run(build(GetTurnRequest, **arguments(locals())))

    def list_scopes(
        self,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[ScopeSummary]:
        return self.run(build(ListScopesRequest, **arguments(locals()))).scopes

    def context(
        self,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        query: str | None = None,
        recent: int = 10,
        k: int = 5,
        max_tokens: int | None = None,
        conversation_id: ConversationId | None = None,
        min_score: float | None = None,
        as_of: Instant | None = None,
    ) -> Context:
        return self.run(build(ContextRequest, **arguments(locals())))

    def erase(
        self,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        turn_ids: TurnIds | None = None,
    ) -> Erasure:
        """Erase an agent's, a user's or an agent's user's turns (needs the ``erase`` scope)."""
        return self.run(build(EraseRequest, **arguments(locals())))

    def list_erasures(
        self,
        since: Instant | None = None,
        until: Instant | None = None,
        limit: int = 100,
        order: ListingOrder = "asc",
        before: ErasureId | None = None,
    ) -> list[Erasure]:
        return self.run(build(ListErasuresRequest, **arguments(locals()))).erasures

    def list_audit(
        self,
        since: Instant | None = None,
        until: Instant | None = None,
        limit: int = 100,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        order: ListingOrder = "asc",
        before: int | None = None,
    ) -> list[AuditEntry]:
        return self.run(build(ListAuditRequest, **arguments(locals()))).entries


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
        tenant_id: TenantId,
        name: str | None = None,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        scopes: KeyScopes | None = None,
    ) -> ApiKeyCreated:
        """A new key; ``scopes`` default to read and write. The secret is shown only now."""
        return self.run(build(CreateApiKeyRequest, **arguments(locals())))

    def list_api_keys(self, tenant_id: TenantId) -> list[ApiKey]:
        return self.run(build(ListApiKeysRequest, tenant_id=tenant_id)).keys

    def revoke_api_key(self, key_id: KeyId) -> None:
        # The service answers 204 with no body: nothing to return, and nothing required.
        self._send(build(RevokeApiKeyRequest, key_id=key_id))

    def update_tenant(
        self,
        tenant_id: TenantId,
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
        tenant_id: TenantId,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        turn_ids: TurnIds | None = None,
    ) -> Erasure:
        return self.run(build(EraseForTenantRequest, **arguments(locals())))

    def list_erasures_for_tenant(
        self,
        tenant_id: TenantId,
        since: Instant | None = None,
        until: Instant | None = None,
        limit: int = 100,
        order: ListingOrder = "asc",
        before: ErasureId | None = None,
    ) -> list[Erasure]:
        request = build(ListErasuresForTenantRequest, **arguments(locals()))
        return self.run(request).erasures

    def list_audit_for_tenant(
        self,
        tenant_id: TenantId,
        since: Instant | None = None,
        until: Instant | None = None,
        limit: int = 100,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        order: ListingOrder = "asc",
        before: int | None = None,
    ) -> list[AuditEntry]:
        request = build(ListAuditForTenantRequest, **arguments(locals()))
        return self.run(request).entries
