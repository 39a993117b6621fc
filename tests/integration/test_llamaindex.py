"""The LlamaIndex memory block inside llama_index.core.memory.Memory, against the served API:
messages flushed out of the short-term window are stored, the block answers with the older
turns relevant to the latest user message."""

from __future__ import annotations

import asyncio
import uuid

from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.core.memory import Memory as LlamaMemory

from konstruct_memory.client import AdminClient, AsyncClient, Client
from konstruct_memory.integrations.llamaindex import KonstructMemoryBlock
from tests.conftest import ADMIN_TOKEN


def test_the_block_remembers_what_memory_flushes_and_recalls_it(base_url: str) -> None:
    with AdminClient(base_url, ADMIN_TOKEN) as admin:
        tenant = admin.create_tenant("llamaindex")
        agent = str(uuid.uuid4())
        key = admin.create_api_key(tenant.id, agent_id=agent, user_id="U1").api_key
    block = KonstructMemoryBlock(async_client=AsyncClient(base_url, key))

    async def converse() -> list[ChatMessage]:
        memory = LlamaMemory.from_defaults(
            session_id="s1",
            token_limit=60,
            chat_history_token_ratio=0.5,
            token_flush_size=10,
            memory_blocks=[block],
        )
        said = [
            ChatMessage(role=MessageRole.SYSTEM, content="You are a helpful travel agent."),
            ChatMessage(role=MessageRole.USER, content="My passport number ends in 4471."),
            ChatMessage(role=MessageRole.ASSISTANT, content="Noted, ending 4471."),
        ]
        filler = [
            ChatMessage(role=MessageRole.USER, content=f"Tell me about city number {i}.")
            for i in range(8)
        ]
        await memory.aput_messages(said + filler)
        await memory.aput(
            ChatMessage(role=MessageRole.USER, content="What does my passport end in?")
        )
        return await memory.aget()

    messages = asyncio.run(converse())
    stored = Client(base_url, key).history(limit=100)
    contents = [turn.content for turn in stored]
    assert "My passport number ends in 4471." in contents, "flushed out of short-term: stored"
    assert "You are a helpful travel agent." not in contents, "system messages are not said"
    prompt = "\n".join(str(m.content) for m in messages)
    assert "4471" in prompt and "<konstruct_memory>" in prompt


def test_the_block_without_a_user_message_adds_nothing(base_url: str) -> None:
    with AdminClient(base_url, ADMIN_TOKEN) as admin:
        key = admin.create_tenant("llamaindex-empty").api_key
    block = KonstructMemoryBlock(
        base_url=base_url, api_key=key, agent_id=str(uuid.uuid4()), user_id="U1"
    )
    assert asyncio.run(block.aget([ChatMessage(role=MessageRole.SYSTEM, content="hi")])) == ""
    asyncio.run(block.aput([ChatMessage(role=MessageRole.USER, content="I like tea")]))
    answer = asyncio.run(block.aget([ChatMessage(role=MessageRole.USER, content="tea?")]))
    assert "I like tea" in answer and "Relevant earlier turns:" in answer
