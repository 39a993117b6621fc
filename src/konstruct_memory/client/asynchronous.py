"""``AsyncClient`` and ``AsyncAdminClient``: the operations over HTTP for asyncio.

This module is the clients' one hand-written source. ``sync.py`` (``Client``, ``AdminClient``)
is generated from it by ``tools/async_to_sync.py``, which drops ``async`` and ``await`` and
renames the asynchronous names to their blocking twins, so both pairs have the same methods,
parameters, results and errors by construction. After changing this module, run
``python tools/async_to_sync.py``; the unit tests fail while ``sync.py`` differs from what it
would generate.
"""

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


class _AsyncHttp:
    """The connection both clients share: the service's URL, the credential, the timeout,
    and the consistency token: the newest write position the service answered with, sent on
    every later request, so reads see this client's writes whichever process serves them."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        position: str | None = None,
    ) -> None:
        opened = connection(base_url, token, timeout)
        self._http = httpx.AsyncClient(**opened, transport=transport)
        self.position = consistency.newest(None, position)

    async def _send(self, request: Request[R]) -> R | None:
        sent = with_position(encode(request), self.position)
        try:
            response = await self._http.request(**sent)
        except httpx.TransportError as exc:
            raise unreachable(exc) from exc
        self.position = consistency.newest(self.position, response.headers.get(consistency.HEADER))
        return decode(request, response)

    async def run(self, request: Request[R]) -> R:
        """Any request of the contract; the operation-named methods are built on it."""
        return required(await self._send(request))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class AsyncClient(_AsyncHttp):
    """Memory for the tenant whose API key this is (the server takes the tenant from it).

    Same method names, parameters and errors as the library's ``TenantMemory``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        position: str | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout=timeout, transport=transport, position=position)

    async def whoami(self) -> Identity:
        """The key's tenant, scopes and binding."""
        return await self.run(WhoAmIRequest())

    async def remember(self, turns: Sequence[TurnInput]) -> list[StoredTurn]:
        return (await self.run(build(RememberRequest, turns=turns))).turns

    async def remember_one(self, turn: TurnInput) -> StoredTurn:
        return (await self.remember([turn]))[0]

    async def recall(
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
        return (await self.run(build(RecallRequest, **arguments(locals())))).hits

    async def recall_across_users(
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
        return (await self.run(build(RecallAcrossUsersRequest, **arguments(locals())))).hits

    async def history(
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
        return (await self.run(build(HistoryRequest, **arguments(locals())))).turns

    async def get_turn(
        self,
        turn_id: TurnId,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
    ) -> StoredTurn:
        return await self.run(build(GetTurnRequest, **arguments(locals())))

    async def list_scopes(
        self,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[ScopeSummary]:
        return (await self.run(build(ListScopesRequest, **arguments(locals())))).scopes

    async def context(
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
        return await self.run(build(ContextRequest, **arguments(locals())))

    async def erase(
        self,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        turn_ids: TurnIds | None = None,
    ) -> Erasure:
        """Erase an agent's, a user's or an agent's user's turns (needs the ``erase`` scope)."""
        return await self.run(build(EraseRequest, **arguments(locals())))

    async def list_erasures(
        self,
        since: Instant | None = None,
        until: Instant | None = None,
        limit: int = 100,
        order: ListingOrder = "asc",
        before: ErasureId | None = None,
    ) -> list[Erasure]:
        return (await self.run(build(ListErasuresRequest, **arguments(locals())))).erasures

    async def list_audit(
        self,
        since: Instant | None = None,
        until: Instant | None = None,
        limit: int = 100,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        order: ListingOrder = "asc",
        before: int | None = None,
    ) -> list[AuditEntry]:
        return (await self.run(build(ListAuditRequest, **arguments(locals())))).entries


class AsyncAdminClient(_AsyncHttp):
    """Tenant and key administration over HTTP, with the admin token."""

    def __init__(
        self,
        base_url: str,
        admin_token: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, admin_token, timeout=timeout, transport=transport)

    async def create_tenant(self, name: str) -> TenantCreated:
        """The new tenant and its first API key (shown once)."""
        return await self.run(build(CreateTenantRequest, name=name))

    async def list_tenants(self) -> list[Tenant]:
        return (await self.run(ListTenantsRequest())).tenants

    async def create_api_key(
        self,
        tenant_id: TenantId,
        name: str | None = None,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        scopes: KeyScopes | None = None,
    ) -> ApiKeyCreated:
        """A new key; ``scopes`` default to read and write. The secret is shown only now."""
        return await self.run(build(CreateApiKeyRequest, **arguments(locals())))

    async def list_api_keys(self, tenant_id: TenantId) -> list[ApiKey]:
        return (await self.run(build(ListApiKeysRequest, tenant_id=tenant_id))).keys

    async def revoke_api_key(self, key_id: KeyId) -> None:
        # The service answers 204 with no body: nothing to return, and nothing required.
        await self._send(build(RevokeApiKeyRequest, key_id=key_id))

    async def update_tenant(
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
        return await self.run(build(UpdateTenantRequest, **changes))

    async def erase_for_tenant(
        self,
        tenant_id: TenantId,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        turn_ids: TurnIds | None = None,
    ) -> Erasure:
        return await self.run(build(EraseForTenantRequest, **arguments(locals())))

    async def list_erasures_for_tenant(
        self,
        tenant_id: TenantId,
        since: Instant | None = None,
        until: Instant | None = None,
        limit: int = 100,
        order: ListingOrder = "asc",
        before: ErasureId | None = None,
    ) -> list[Erasure]:
        request = build(ListErasuresForTenantRequest, **arguments(locals()))
        return (await self.run(request)).erasures

    async def list_audit_for_tenant(
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
        return (await self.run(request)).entries
