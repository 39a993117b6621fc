"""``min_score`` through the MCP tools and the framework adapters (LangChain's
``score_threshold``, the LangGraph store's ``min_score`` setting, the LlamaIndex block): each
leaves out exactly the hits scoring below it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import anyio
import pytest
from llama_index.core.llms import ChatMessage, MessageRole
from mcp import Client as McpClient
from pydantic import ValidationError

from konstruct_memory.client import AsyncClient, Client
from konstruct_memory.errors import InvalidInput
from konstruct_memory.integrations.langchain import KonstructRetriever
from konstruct_memory.integrations.langgraph import KonstructStore
from konstruct_memory.integrations.llamaindex import KonstructMemoryBlock
from konstruct_memory.library import Memory, TenantMemory
from konstruct_memory.operations import Hit
from tests.integration.test_mcp import acting_as
from tests.scored import (
    AGENT,
    N_ALL,
    N_USER,
    QUERY,
    USER,
    Scene,
    ids,
    kept,
    middle_threshold,
    stored_scene,
)


@pytest.fixture(scope="module")
def scene(memory: Memory) -> Scene:
    return stored_scene(memory)


@pytest.fixture(scope="module")
def owner(memory: Memory, scene: Scene) -> TenantMemory:
    return memory.tenant(scene.tenant_id)


@pytest.fixture(scope="module")
def unthresholded(owner: TenantMemory) -> list[Hit]:
    return owner.recall(AGENT, USER, QUERY, k=N_USER)


@pytest.fixture(scope="module")
def across(owner: TenantMemory) -> list[Hit]:
    return owner.recall_across_users(AGENT, QUERY, k=N_ALL)


# -- MCP -------------------------------------------------------------------------------------


def test_the_mcp_tools_take_min_score(
    memory: Memory, scene: Scene, unthresholded: list[Hit]
) -> None:
    threshold = middle_threshold(unthresholded)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("recall", {"query": QUERY, "user_id": USER, "k": N_USER, "min_score": threshold}),
        ("recall", {"query": QUERY, "user_id": USER, "k": N_USER}),
        ("context", {"query": QUERY, "user_id": USER, "recent": 0, "k": N_USER,
                     "min_score": threshold}),
        ("recall", {"query": QUERY, "user_id": USER, "min_score": 1.5}),
        ("recall", {"query": QUERY, "user_id": USER, "min_score": True}),
        ("context", {"query": QUERY, "user_id": USER, "min_score": "0.5"}),
        ("context", {"query": QUERY, "user_id": USER, "min_score": -0.5}),
    ]  # fmt: skip

    async def session() -> list[Any]:
        with acting_as(memory, scene.api_key) as server:
            async with McpClient(server) as client:
                results: list[Any] = [await client.list_tools()]
                for tool, arguments in calls:
                    results.append(await client.call_tool(tool, arguments))
                return results

    listed, narrowed, whole, context, *refused = anyio.run(session)
    tools = {tool.name: tool for tool in listed.tools}
    for name in ("recall", "context"):
        schema = tools[name].input_schema
        assert "below" in schema["properties"]["min_score"]["description"]
        assert "min_score" not in schema.get("required", [])
    assert ids(narrowed.structured_content["hits"]) == kept(unthresholded, threshold)
    assert ids(whole.structured_content["hits"]) == ids(unthresholded)
    recalled = context.structured_content["recalled"]
    assert set(ids(recalled)) == set(kept(unthresholded, threshold))
    for result in refused:
        assert result.is_error
        assert "min_score" in result.content[0].text


# -- LangChain -------------------------------------------------------------------------------


def test_the_langchain_retriever_passes_score_threshold_as_min_score(
    base_url: str, scene: Scene, unthresholded: list[Hit], across: list[Hit]
) -> None:
    threshold = middle_threshold(unthresholded)
    client = Client(base_url, scene.api_key)
    retriever = KonstructRetriever(
        client=client,
        async_client=AsyncClient(base_url, scene.api_key),
        user_id=USER,
        k=N_USER,
        score_threshold=threshold,
    )
    documents = retriever.invoke(QUERY)
    assert [uuid.UUID(d.id or "") for d in documents] == kept(unthresholded, threshold)
    assert all(d.metadata["score"] >= threshold for d in documents)
    asynchronous = asyncio.run(retriever.ainvoke(QUERY))
    assert [d.id for d in asynchronous] == [d.id for d in documents]
    # Without a threshold, k documents; across users, the threshold applies as well.
    assert len(KonstructRetriever(client=client, user_id=USER, k=N_USER).invoke(QUERY)) == N_USER
    across_threshold = middle_threshold(across)
    wide = KonstructRetriever(
        client=client, across_users=True, k=N_ALL, score_threshold=across_threshold
    ).invoke(QUERY)
    assert [uuid.UUID(d.id or "") for d in wide] == kept(across, across_threshold)


@pytest.mark.parametrize("bad", [1.5, -0.1, "0.5", True])
def test_the_langchain_retriever_refuses_a_bad_score_threshold(
    base_url: str, scene: Scene, bad: Any
) -> None:
    with pytest.raises(ValidationError, match="score_threshold"):
        KonstructRetriever(client=Client(base_url, scene.api_key), score_threshold=bad)


# -- LangGraph -------------------------------------------------------------------------------


def test_the_langgraph_store_applies_min_score_to_searches_with_a_query(
    base_url: str, scene: Scene, unthresholded: list[Hit], across: list[Hit]
) -> None:
    threshold = middle_threshold(unthresholded)
    store = KonstructStore(
        Client(base_url, scene.api_key),
        async_client=AsyncClient(base_url, scene.api_key),
        min_score=threshold,
    )
    found = store.search((USER,), query=QUERY, limit=N_USER)
    # Turns stored by chat are items keyed by their turn id.
    assert [uuid.UUID(item.key) for item in found] == kept(unthresholded, threshold)
    assert all(item.score is not None and item.score >= threshold for item in found)
    found_async = asyncio.run(store.asearch((USER,), query=QUERY, limit=N_USER))
    assert [item.key for item in found_async] == [item.key for item in found]
    across_threshold = middle_threshold(across)
    wide = KonstructStore(Client(base_url, scene.api_key), min_score=across_threshold)
    assert [uuid.UUID(item.key) for item in wide.search((), query=QUERY, limit=N_ALL)] == kept(
        across, across_threshold
    )
    # A listing without a query is not a recall: nothing scores, nothing is left out.
    assert len(store.search((USER,), limit=N_USER)) == N_USER
    unset = KonstructStore(Client(base_url, scene.api_key))
    assert len(unset.search((USER,), query=QUERY, limit=N_USER)) == N_USER


@pytest.mark.parametrize("bad", [1.5, -0.1, "0.5", True, float("nan")])
def test_the_langgraph_store_refuses_a_bad_min_score_naming_it(
    base_url: str, scene: Scene, bad: Any
) -> None:
    with pytest.raises(InvalidInput) as refused:
        KonstructStore(Client(base_url, scene.api_key), min_score=bad)
    assert refused.value.field == "min_score"


# -- LlamaIndex ------------------------------------------------------------------------------


def test_the_llamaindex_block_passes_min_score(
    base_url: str, scene: Scene, owner: TenantMemory
) -> None:
    full = owner.context(AGENT, USER, QUERY, recent=0, k=N_USER).recalled
    threshold = middle_threshold(full)
    block = KonstructMemoryBlock(
        client=Client(base_url, scene.api_key), user_id=USER, k=N_USER, min_score=threshold
    )
    text = asyncio.run(block.aget([ChatMessage(role=MessageRole.USER, content=QUERY)]))
    above = [hit.content for hit in full if hit.score >= threshold]
    below = [hit.content for hit in full if hit.score < threshold]
    assert above and below
    assert all(content in text for content in above)
    assert not any(content in text for content in below)
    with pytest.raises(ValidationError, match="min_score"):
        KonstructMemoryBlock(client=Client(base_url, scene.api_key), min_score=2)
