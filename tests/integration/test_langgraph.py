"""The LangGraph store against the served API: inside a small graph (no LLM), sync and async,
and the contract of each store operation as documented in the adapter."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore, InvalidNamespaceError

from konstruct_memory.client import AdminClient, AsyncClient, Client
from konstruct_memory.errors import Conflict, Forbidden, InvalidInput
from konstruct_memory.integrations.langgraph import KonstructStore
from tests.conftest import ADMIN_TOKEN


@pytest.fixture
def keys(base_url: str) -> dict[str, str]:
    """An agent, a key bound to it (read, write), and one that may also erase."""
    with AdminClient(base_url, ADMIN_TOKEN) as admin:
        tenant = admin.create_tenant("langgraph")
        agent = str(uuid.uuid4())
        bound = admin.create_api_key(tenant.id, agent_id=agent, scopes=["read", "write"])
        eraser = admin.create_api_key(tenant.id, agent_id=agent, scopes=["read", "write", "erase"])
    return {"agent": agent, "key": bound.api_key, "eraser": eraser.api_key}


class Chat(TypedDict, total=False):
    user: str
    message: str
    recalled: list[str]


def graph_with(store: BaseStore) -> Any:
    """Remember each message as a fact of the user, then recall the facts that bear on it."""

    def remember(state: Chat, *, store: BaseStore) -> Chat:
        store.put((state["user"],), str(uuid.uuid4()), {"text": state["message"], "kind": "fact"})
        return {}

    def recall(state: Chat, *, store: BaseStore) -> Chat:
        found = store.search((state["user"],), query=state["message"], limit=2)
        return {"recalled": [item.value["text"] for item in found]}

    async def aremember(state: Chat, *, store: BaseStore) -> Chat:
        key = str(uuid.uuid4())
        await store.aput((state["user"],), key, {"text": state["message"], "kind": "fact"})
        return {}

    async def arecall(state: Chat, *, store: BaseStore) -> Chat:
        found = await store.asearch((state["user"],), query=state["message"], limit=2)
        return {"recalled": [item.value["text"] for item in found]}

    builder = StateGraph(Chat)
    builder.add_node("remember", remember, afunc=aremember)  # type: ignore[call-overload]
    builder.add_node("recall", recall, afunc=arecall)  # type: ignore[call-overload]
    builder.add_edge(START, "recall")
    builder.add_edge("recall", "remember")
    builder.add_edge("remember", END)
    return builder.compile(store=store)


def test_a_graph_remembers_through_the_store_and_recalls_later(
    base_url: str, keys: dict[str, str]
) -> None:
    store = KonstructStore(Client(base_url, keys["key"]))  # the agent comes from the key
    graph = graph_with(store)
    graph.invoke({"user": "U1", "message": "My dog is called Biscuit"})
    graph.invoke({"user": "U1", "message": "I am allergic to peanuts"})
    graph.invoke({"user": "U2", "message": "My dog is called Pepper"})
    answer = graph.invoke({"user": "U1", "message": "what is my dog called?"})
    assert answer["recalled"][0] == "My dog is called Biscuit"
    assert "My dog is called Pepper" not in answer["recalled"]

    async def later() -> dict[str, Any]:
        async with AsyncClient(base_url, keys["key"]) as client:
            astore = KonstructStore(Client(base_url, keys["key"]), async_client=client)
            result: dict[str, Any] = await graph_with(astore).ainvoke(
                {"user": "U1", "message": "am I allergic to anything?"}
            )
            return result

    assert asyncio.run(later())["recalled"][0] == "I am allergic to peanuts"
    assert store.list_namespaces() == [("U1",), ("U2",)]


def test_put_get_and_search_keep_the_value_and_refuse_a_changed_one(
    base_url: str, keys: dict[str, str]
) -> None:
    client = Client(base_url, keys["key"])
    store = KonstructStore(client, keys["agent"])
    value = {"text": "prefers window seats", "kind": "preference", "weight": 3}
    store.put(("U1", "trip"), "seat", value)
    store.put(("U1", "trip"), "seat", value)  # a retry stores nothing new
    store.put(("U1",), "diet", {"text": "vegetarian", "kind": "preference", "weight": 1})
    store.put(("U1",), "home", {"city": "Porto", "note": "lives in Porto"}, index=["note"])

    item = store.get(("U1", "trip"), "seat")
    assert item is not None and (item.namespace, item.key, item.value) == (
        ("U1", "trip"),
        "seat",
        value,
    )
    assert store.get(("U1",), "seat") is None  # another namespace, another item
    assert store.get(("U1", "trip"), "missing") is None
    with pytest.raises(Conflict, match="append-only"):
        store.put(("U1", "trip"), "seat", {"text": "prefers aisle seats"})
    assert store.get(("U1", "trip"), "seat").value == value  # type: ignore[union-attr]

    [home] = store.search(("U1",), query="where does the user live?", limit=1)
    assert (home.key, home.value["city"]) == ("home", "Porto") and 0 < home.score <= 1
    newest = [found.key for found in store.search(("U1",))]
    assert newest == ["home", "diet", "seat"]
    assert [found.key for found in store.search(("U1", "trip"))] == ["seat"]
    heavy = store.search(("U1",), filter={"weight": {"$gte": 2}})
    assert [found.key for found in heavy] == ["seat"]
    kinds = store.search(("U1",), query="seat", filter={"kind": "preference"}, limit=5)
    assert {found.key for found in kinds} == {"seat", "diet"}
    assert [found.key for found in store.search(("U1",), limit=1, offset=1)] == ["diet"]

    assert store.list_namespaces() == [("U1",), ("U1", "trip")]
    assert store.list_namespaces(prefix=("U1",), max_depth=1) == [("U1",)]
    assert store.list_namespaces(suffix=("trip",)) == [("U1", "trip")]
    assert store.list_namespaces(prefix=("*", "trip")) == [("U1", "trip")]


def test_turns_stored_by_chat_show_as_items_keyed_by_their_id(
    base_url: str, keys: dict[str, str]
) -> None:
    client = Client(base_url, keys["key"])
    turn = client.remember_one(
        {"user_id": "U3", "role": "assistant", "content": "See you in Lisbon", "metadata": {}}
    )
    store = KonstructStore(client)
    item = store.get(("U3",), str(turn.id))
    assert item is not None and item.value == {"text": "See you in Lisbon", "role": "assistant"}
    assert store.get(("U4",), str(turn.id)) is None


def test_a_delete_is_an_erasure_and_without_the_erase_scope_it_raises(
    base_url: str, keys: dict[str, str]
) -> None:
    store = KonstructStore(Client(base_url, keys["key"]))
    key = str(uuid.uuid4())  # keys that look like turn ids must still map to their own item
    store.put(("U1",), key, {"text": "my PIN is 0000"})
    with pytest.raises(Forbidden, match="'erase' scope"):
        store.delete(("U1",), key)
    assert store.get(("U1",), key) is not None

    eraser = Client(base_url, keys["eraser"])
    KonstructStore(eraser).delete(("U1",), key)
    assert store.get(("U1",), key) is None
    assert store.search(("U1",), query="PIN") == []
    with pytest.raises(Conflict, match="deleted"):
        store.put(("U1",), key, {"text": "my PIN is 0000"})


def test_namespaces_other_than_user_or_thread_are_refused(
    base_url: str, keys: dict[str, str]
) -> None:
    store = KonstructStore(Client(base_url, keys["key"]))
    with pytest.raises(InvalidNamespaceError, match=r"\(user_id,\) or \(user_id, thread\)"):
        store.put(("memories", "U1", "x"), "k", {"text": "t"})
    with pytest.raises(InvalidNamespaceError):
        store.get((), "k")
    with pytest.raises(InvalidNamespaceError, match="without a query"):
        store.search(())
    with pytest.raises(InvalidInput, match=r"value\.text: put U1/k: needs text"):
        store.put(("U1",), "k", {"note": "no text field"})


def test_the_async_operations_go_through_the_async_client(
    base_url: str, keys: dict[str, str]
) -> None:
    async def run() -> None:
        async with AsyncClient(base_url, keys["eraser"]) as client:
            store = KonstructStore(Client(base_url, keys["eraser"]), async_client=client)
            await store.aput(("U5",), "a", {"text": "likes jazz"})
            found = await store.aget(("U5",), "a")
            assert found is not None and found.value == {"text": "likes jazz"}
            [hit] = await store.asearch(("U5",), query="music", limit=1)
            assert hit.key == "a"
            assert await store.alist_namespaces(prefix=("U5",)) == [("U5",)]
            await store.adelete(("U5",), "a")
            assert await store.aget(("U5",), "a") is None

    asyncio.run(run())
