"""LangChain: a chat message history and a retriever over the memory service.

``pip install 'konstruct-memory[langchain]'``. Both talk to the service through the HTTP
client (``Client``, and ``AsyncClient`` for the async methods when given one).

How LangChain messages map onto turns:

* ``HumanMessage`` is a ``user`` turn, ``AIMessage`` an ``assistant`` turn; their text is the
  content (text blocks joined, other blocks left out).
* ``SystemMessage`` and ``ToolMessage`` are not stored: instructions and tool output are not
  what was said in the conversation, and recalled later they would pass for it. An
  ``AIMessage`` with no text (only tool calls) is not stored either.
* ``session_id`` is the turns' ``conversation_id``: ``messages`` lists that thread only.
* ``clear()`` is an erasure (the key needs the ``erase`` scope): of every turn of this user
  with this agent, or, for a history made with a ``session_id``, of the turns of that thread
  (by their ids, a thousand per ledger entry).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.retrievers import BaseRetriever

from konstruct_memory.client import AsyncClient, Client
from konstruct_memory.errors import ConfigurationError
from konstruct_memory.operations import Hit, StoredTurn
from konstruct_memory.operations.fields import MinScore

PAGE = 1000


def _client(client: Client | None, base_url: str | None, api_key: str | None) -> Client:
    if client is not None:
        return client
    if base_url is None or api_key is None:
        raise ConfigurationError("give a Client, or base_url and api_key")
    return Client(base_url, api_key)


class KonstructChatMessageHistory(BaseChatMessageHistory):
    """The turns of one user with one agent (optionally one thread) as LangChain messages.

    With a key bound to the agent or the user, ``agent_id`` or ``user_id`` may be left out.
    """

    def __init__(
        self,
        client: Client | None = None,
        agent_id: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        *,
        async_client: AsyncClient | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
    ) -> None:
        self.client = _client(client, base_url, api_key)
        self.async_client = async_client
        self.agent_id = agent_id
        self.user_id = user_id
        self.session_id = session_id

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """Every stored turn of the scope, oldest first."""
        return [_message(turn) for turn in self._stored()]

    def _stored(self) -> list[StoredTurn]:
        """Every stored turn of the scope, oldest first, paging back through history."""
        turns: list[StoredTurn] = []
        while True:
            page = self.client.history(
                agent_id=self.agent_id,
                user_id=self.user_id,
                limit=PAGE,
                conversation_id=self.session_id,
                before=turns[0].id if turns else None,
            )
            turns = page + turns
            if len(page) < PAGE:
                return turns

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        turns = self._turns(messages)
        if turns:
            self.client.remember(turns)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        if self.async_client is None:
            await super().aadd_messages(messages)
            return
        turns = self._turns(messages)
        if turns:
            await self.async_client.remember(turns)

    def clear(self) -> None:
        """Erase the turns of this history (needs the ``erase`` scope): every turn of this user
        with this agent, or with a ``session_id`` the turns of that thread stored so far."""
        if self.session_id is None:
            self.client.erase(agent_id=self.agent_id, user_id=self.user_id)
            return
        ids = [turn.id for turn in self._stored()]
        for start in range(0, len(ids), PAGE):
            chunk = ids[start : start + PAGE]
            self.client.erase(agent_id=self.agent_id, user_id=self.user_id, turn_ids=chunk)

    def _turns(self, messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
        turns = []
        for message in messages:
            role = {"human": "user", "ai": "assistant"}.get(message.type)
            content = _text(message.content)
            if role is None or not content.strip():
                continue  # system and tool messages, and tool-call-only replies: not said
            turn: dict[str, Any] = {"role": role, "content": content}
            for name, value in (
                ("agent_id", self.agent_id),
                ("user_id", self.user_id),
                ("conversation_id", self.session_id),
            ):
                if value is not None:
                    turn[name] = value
            if message.id:
                turn["metadata"] = {"langchain_message_id": str(message.id)}
            turns.append(turn)
        return turns


class KonstructRetriever(BaseRetriever):
    """Recall as a LangChain retriever: the ``k`` turns most relevant to the query, as
    documents whose metadata carries the turn's id, role, time, score, user, thread and stored
    metadata. ``invoke(query, k=3)`` overrides ``k`` for one call. With ``score_threshold``
    (0 to 1, as LangChain's vector-store retrievers name it; recall's ``min_score``), turns
    scoring below it are left out, so fewer than ``k`` documents may come back."""

    client: Any
    async_client: Any = None
    agent_id: str | None = None
    user_id: str | None = None
    across_users: bool = False
    k: int = 4
    score_threshold: MinScore | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        if self.across_users:
            hits = self.client.recall_across_users(**self._recall(query, k))
        else:
            hits = self.client.recall(user_id=self.user_id, **self._recall(query, k))
        return [_document(hit) for hit in hits]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
    ) -> list[Document]:
        if self.async_client is None:
            sync = run_manager.get_sync()
            return await asyncio.to_thread(
                self._get_relevant_documents, query, run_manager=sync, k=k
            )
        if self.across_users:
            hits = await self.async_client.recall_across_users(**self._recall(query, k))
        else:
            hits = await self.async_client.recall(user_id=self.user_id, **self._recall(query, k))
        return [_document(hit) for hit in hits]

    def _recall(self, query: str, k: int | None) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "query": query,
            "k": self.k if k is None else k,
            "min_score": self.score_threshold,
        }


def _text(content: str | list[Any]) -> str:
    if isinstance(content, str):
        return content
    parts = [
        block if isinstance(block, str) else str(block.get("text", ""))
        for block in content
        if isinstance(block, str) or block.get("type") == "text"
    ]
    return "\n".join(part for part in parts if part)


def _message(turn: StoredTurn) -> BaseMessage:
    kind = HumanMessage if turn.role == "user" else AIMessage
    return kind(content=turn.content, id=str(turn.id))


def _document(hit: Hit) -> Document:
    return Document(
        page_content=hit.content,
        id=str(hit.id),
        metadata={
            "id": str(hit.id),
            "role": hit.role,
            "occurred_at": hit.occurred_at.isoformat(),
            "score": hit.score,
            "user_id": hit.user_id,
            "conversation_id": hit.conversation_id,
            "metadata": hit.metadata or {},
        },
    )
