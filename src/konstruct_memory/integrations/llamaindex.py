"""LlamaIndex: a memory block over the memory service, for ``llama_index.core.memory.Memory``.

``pip install 'konstruct-memory[llamaindex]'``. LlamaIndex's ``Memory`` keeps the recent
messages itself; messages it flushes out of that short-term window are put into its memory
blocks, and before each reply it asks the blocks for what to add to the prompt. So the block:

* stores the user and assistant messages put into it as turns (system and tool messages are
  not stored: instructions and tool output are not what was said);
* answers with the older turns most relevant to the latest user message, as the service's
  context block renders them (stored text quoted, never structure; ``/v1/context`` with
  ``recent=0``), or nothing when there is no user message to ask about.

It talks to the service through ``AsyncClient`` when given one, else through ``Client`` in a
worker thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.core.memory import BaseMemoryBlock
from pydantic import Field

from konstruct_memory.client import Client
from konstruct_memory.operations.fields import MinScore

_ROLES = {MessageRole.USER: "user", MessageRole.ASSISTANT: "assistant"}


class KonstructMemoryBlock(BaseMemoryBlock[str]):
    """Long-term memory of one user with one agent (either may be left out with a key bound to
    it). Give ``client`` (and ``async_client`` for asyncio), or ``base_url`` and ``api_key``.
    ``min_score`` (0 to 1) leaves out recalled turns scoring below it."""

    name: str = "konstruct_memory"
    description: str | None = "Older turns of this conversation partner, relevant to now"
    client: Any = None
    async_client: Any = None
    base_url: str | None = None
    api_key: str | None = None
    agent_id: str | None = None
    user_id: str | None = None
    conversation_id: str | None = None
    k: int = Field(default=5, ge=1, le=100)
    min_score: MinScore | None = None

    def model_post_init(self, context: Any) -> None:
        if self.client is None and self.async_client is None:
            if self.base_url is None or self.api_key is None:
                raise ValueError("give client (or async_client), or base_url and api_key")
            self.client = Client(self.base_url, self.api_key)

    async def _aget(self, messages: list[ChatMessage] | None = None, **kwargs: Any) -> str:
        query = next(
            (
                m.content
                for m in reversed(messages or [])
                if m.role == MessageRole.USER and m.content
            ),
            None,
        )
        if not query:
            return ""
        fields = {"agent_id": self.agent_id, "user_id": self.user_id, "query": query,
                  "recent": 0, "k": self.k, "min_score": self.min_score}  # fmt: skip
        if self.async_client is not None:
            context = await self.async_client.context(**fields)
        else:
            context = await asyncio.to_thread(self.client.context, **fields)
        text: str = context.text
        return text

    async def _aput(self, messages: list[ChatMessage]) -> None:
        turns = []
        for message in messages:
            role = _ROLES.get(message.role)
            if role is None or not message.content or not message.content.strip():
                continue
            turn: dict[str, Any] = {"role": role, "content": message.content}
            for name in ("agent_id", "user_id", "conversation_id"):
                if getattr(self, name) is not None:
                    turn[name] = getattr(self, name)
            turns.append(turn)
        if not turns:
            return
        if self.async_client is not None:
            await self.async_client.remember(turns)
        else:
            await asyncio.to_thread(self.client.remember, turns)
