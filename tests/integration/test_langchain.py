"""The LangChain adapter against the served API: the history inside RunnableWithMessageHistory
with a fake chat model (no LLM), the message mapping, clear() as erasure, the retriever."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from konstruct_memory.client import AdminClient, AsyncClient, Client
from konstruct_memory.errors import Forbidden
from konstruct_memory.integrations.langchain import (
    KonstructChatMessageHistory,
    KonstructRetriever,
)
from tests.conftest import ADMIN_TOKEN


@pytest.fixture
def keys(base_url: str) -> dict[str, str]:
    with AdminClient(base_url, ADMIN_TOKEN) as admin:
        tenant = admin.create_tenant("langchain")
        agent = str(uuid.uuid4())
        bound = admin.create_api_key(tenant.id, agent_id=agent, scopes=["read", "write"])
        eraser = admin.create_api_key(tenant.id, agent_id=agent, scopes=["read", "erase"])
    return {"agent": agent, "key": bound.api_key, "eraser": eraser.api_key}


# LangChain 1.x points new code at LangGraph's persistence, but RunnableWithMessageHistory is
# what chat-history integrations are still run in.
@pytest.mark.filterwarnings("ignore:RunnableWithMessageHistory is deprecated")
def test_the_history_inside_a_chain_keeps_what_was_said(
    base_url: str, keys: dict[str, str]
) -> None:
    client = Client(base_url, keys["key"])
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are terse."), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    chain = prompt | FakeListChatModel(responses=["Biscuit is a fine name.", "It is Biscuit."])
    with_history = RunnableWithMessageHistory(
        chain,
        lambda session_id: KonstructChatMessageHistory(client, user_id="U1", session_id=session_id),
        input_messages_key="question",
        history_messages_key="history",
    )
    config = {"configurable": {"session_id": "thread-1"}}
    with_history.invoke({"question": "My dog is called Biscuit"}, config=config)
    with_history.invoke({"question": "What is my dog called?"}, config=config)
    history = KonstructChatMessageHistory(client, user_id="U1", session_id="thread-1")
    assert [(type(m).__name__, m.content) for m in history.messages] == [
        ("HumanMessage", "My dog is called Biscuit"),
        ("AIMessage", "Biscuit is a fine name."),
        ("HumanMessage", "What is my dog called?"),
        ("AIMessage", "It is Biscuit."),
    ]
    # Another thread of the same user is another history; the system prompt was not stored.
    assert KonstructChatMessageHistory(client, user_id="U1", session_id="thread-2").messages == []
    retriever = KonstructRetriever(client=client, user_id="U1", k=1)
    [document] = retriever.invoke("what is the dog's name?")
    assert "Biscuit" in document.page_content and document.metadata["role"] in ("user", "assistant")
    assert 0 <= document.metadata["score"] <= 1


def test_system_and_tool_messages_are_not_stored_and_async_works(
    base_url: str, keys: dict[str, str]
) -> None:
    history = KonstructChatMessageHistory(
        Client(base_url, keys["key"]),
        user_id="U2",
        async_client=AsyncClient(base_url, keys["key"]),
    )
    messages = [
        SystemMessage("Always answer in French."),
        HumanMessage([{"type": "text", "text": "Book the 9:30 train"}, {"type": "image_url"}]),
        AIMessage("", tool_calls=[{"name": "book", "args": {}, "id": "call-1"}]),
        ToolMessage("booked: seat 42", tool_call_id="call-1"),
        AIMessage("Booked, seat 42."),
    ]
    retriever = KonstructRetriever(
        client=history.client, async_client=history.async_client, user_id="U2", k=1
    )

    async def converse() -> tuple[list[Any], list[Any]]:
        await history.aadd_messages(messages)
        return await history.aget_messages(), await retriever.ainvoke("which seat?")

    stored, found = asyncio.run(converse())
    assert [(m.type, m.content) for m in stored] == [
        ("human", "Book the 9:30 train"),
        ("ai", "Booked, seat 42."),
    ]
    assert [d.page_content for d in found] == ["Booked, seat 42."]


def test_clear_is_an_erasure_and_needs_the_erase_scope(base_url: str, keys: dict[str, str]) -> None:
    writer = KonstructChatMessageHistory(Client(base_url, keys["key"]), user_id="U3")
    writer.add_messages([HumanMessage("forget me please")])
    with pytest.raises(Forbidden, match="'erase' scope"):
        writer.clear()
    eraser = {"base_url": base_url, "api_key": keys["eraser"], "user_id": "U3"}
    threaded = KonstructChatMessageHistory(**eraser, session_id="t")
    in_thread = KonstructChatMessageHistory(
        Client(base_url, keys["key"]), user_id="U3", session_id="t"
    )
    in_thread.add_messages([HumanMessage("in thread t"), AIMessage("noted")])
    threaded.clear()  # that thread only
    assert threaded.messages == []
    assert [m.content for m in writer.messages] == ["forget me please"]
    KonstructChatMessageHistory(**eraser).clear()
    assert writer.messages == []


def test_the_base_install_imports_no_framework() -> None:
    probe = (
        "import sys, konstruct_memory, konstruct_memory.client, konstruct_memory.integrations; "
        "print(any(m.split('.')[0] in ('langchain_core', 'llama_index', 'langgraph') "
        "for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
