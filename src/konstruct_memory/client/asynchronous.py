"""``AsyncClient``: the tenant operations over HTTP for asyncio (agent frameworks are async)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar
from uuid import UUID

import httpx

from konstruct_memory.client._wire import connection, decode, encode, required, unreachable
from konstruct_memory.operations import (
    AuditEntry,
    Context,
    ContextRequest,
    EraseRequest,
    Erasure,
    GetTurnRequest,
    HistoryRequest,
    Hit,
    Identity,
    ListAuditRequest,
    ListErasuresRequest,
    ListScopesRequest,
    RecallAcrossUsersRequest,
    RecallRequest,
    RememberRequest,
    Request,
    Result,
    ScopeSummary,
    StoredTurn,
    Turn,
    WhoAmIRequest,
    build,
)
from konstruct_memory.operations.base import arguments
from konstruct_memory.operations.fields import Role

R = TypeVar("R", bound=Result)


class AsyncClient:
    """``Client`` with ``async`` methods: same names, parameters, results and errors."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        opened = connection(base_url, api_key, timeout)
        self._http = httpx.AsyncClient(**opened, transport=transport)

    async def run(self, request: Request[R]) -> R:
        """Any request of the contract; the operation-named methods are built on it."""
        try:
            response = await self._http.request(**encode(request))
        except httpx.TransportError as exc:
            raise unreachable(exc) from exc
        return required(decode(request, response))

    async def whoami(self) -> Identity:
        """The key's tenant, scopes and binding."""
        return await self.run(WhoAmIRequest())

    async def remember(self, turns: Sequence[Turn | Mapping[str, Any]]) -> list[StoredTurn]:
        return (await self.run(build(RememberRequest, turns=turns))).turns

    async def remember_one(self, turn: Turn | Mapping[str, Any]) -> StoredTurn:
        return (await self.remember([turn]))[0]

    async def recall(
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
        return (await self.run(build(RecallRequest, **arguments(locals())))).hits

    async def recall_across_users(
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
        return (await self.run(build(RecallAcrossUsersRequest, **arguments(locals())))).hits

    async def history(
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
        return (await self.run(build(HistoryRequest, **arguments(locals())))).turns

    async def get_turn(
        self,
        turn_id: UUID | str,
        agent_id: UUID | str | None = None,
        user_id: str | None = None,
    ) -> StoredTurn:
        return await self.run(build(GetTurnRequest, **arguments(locals())))

    async def list_scopes(
        self,
        agent_id: UUID | str | None = None,
        user_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[ScopeSummary]:
        return (await self.run(build(ListScopesRequest, **arguments(locals())))).scopes

    async def context(
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
        return await self.run(build(ContextRequest, **arguments(locals())))

    async def erase(
        self,
        agent_id: UUID | str | None = None,
        user_id: str | None = None,
        turn_ids: Sequence[UUID | str] | None = None,
    ) -> Erasure:
        """Erase an agent's, a user's or an agent's user's turns (needs the ``erase`` scope)."""
        return await self.run(build(EraseRequest, **arguments(locals())))

    async def list_erasures(
        self,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = 100,
    ) -> list[Erasure]:
        return (await self.run(build(ListErasuresRequest, **arguments(locals())))).erasures

    async def list_audit(
        self,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = 100,
        agent_id: UUID | str | None = None,
        user_id: str | None = None,
    ) -> list[AuditEntry]:
        return (await self.run(build(ListAuditRequest, **arguments(locals())))).entries

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
