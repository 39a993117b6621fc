"""LangGraph: a long-term store (``BaseStore``) over the memory service.

``pip install 'konstruct-memory[langgraph]'``, then ``graph.compile(store=KonstructStore(...))``.
It talks to the service through ``Client`` (``batch``) and ``AsyncClient`` (``abatch``, when
given one; else ``Client`` in a worker thread).

How the store maps onto the memory:

* The store serves one agent (``agent_id``, or the agent a key is bound to). A namespace is
  ``(user_id,)`` or ``(user_id, conversation_id)``: a user's items, or one thread's. Other
  depths are refused with ``InvalidNamespaceError``.
* ``put`` stores a turn: the value's ``text`` field (``text_field``; or the fields named by
  ``index``, joined) is its content and is embedded, and the whole value is kept in the turn's
  metadata with its key. The turn's id is derived from (agent, namespace, key), so a repeated
  put of the same value stores nothing new.
* Turns are append-only: a put of another value into a key that holds one raises ``Conflict``
  (use a new key). ``delete`` (a put of ``None``) erases the turn: it needs a key with the
  ``erase`` scope, raises ``Forbidden`` otherwise, and an erased key is never stored again.
* ``get`` finds an item by key. Turns stored by chat (not through the store) show as items
  keyed by their turn id, with the value ``{text_field: content, "role": role}``.
* ``search`` with a ``query`` is recall (best first, ``score`` in [0, 1]; across users with
  the empty prefix), leaving out items scoring below the store's ``min_score`` when it has
  one; without a query it lists the newest items of a user or thread. ``filter``
  compares value fields (equality, or ``$eq $ne $gt $gte $lt $lte``) on what was fetched: at
  most 100 recalled turns for a query.
* ``list_namespaces`` lists the users and threads of the agent that hold turns.

Every operation is written once, as a plan that yields the contract's requests and receives
their results; ``batch`` and ``abatch`` only differ in how they carry the requests.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Generator, Iterable, Mapping
from typing import Any, TypeVar

from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)
from langgraph.store.base.embed import get_text_at_path
from pydantic import TypeAdapter, ValidationError

from konstruct_memory.client import AsyncClient, Client
from konstruct_memory.errors import ConfigurationError, Conflict, Forbidden, InvalidInput, NotFound
from konstruct_memory.integrations.langgraph_filters import namespace_matches, value_matches
from konstruct_memory.operations import (
    EraseRequest,
    GetTurnRequest,
    HistoryRequest,
    Hit,
    ListScopesRequest,
    RecallAcrossUsersRequest,
    RecallRequest,
    RememberRequest,
    StoredTurn,
    WhoAmIRequest,
    build,
)
from konstruct_memory.operations.base import Request
from konstruct_memory.operations.fields import MAX_HISTORY, MAX_K, MAX_LISTED, MinScore, Role

T = TypeVar("T")
Plan = Generator[Request[Any], Any, T]

# Item ids are uuid5 names under this namespace: the same (agent, namespace, key), the same id.
ITEM_IDS = uuid.UUID("6f1c2b9e-4d7a-5e3b-9a8c-1b2d3e4f5a6b")
# The turn metadata field that holds a stored item's key and value.
ITEM_FIELD = "langgraph_item"
_MIN_SCORE: TypeAdapter[float | None] = TypeAdapter(MinScore | None)


def item_id(agent_id: str, namespace: tuple[str, ...], key: str) -> uuid.UUID:
    return uuid.uuid5(ITEM_IDS, json.dumps([agent_id, *namespace, key]))


class KonstructStore(BaseStore):
    """LangGraph's long-term store, kept as turns of one agent in the memory service.

    ``min_score`` (0 to 1) applies to every ``search`` with a query: items scoring below it
    are left out (``BaseStore.search`` has no threshold argument of its own).
    """

    def __init__(
        self,
        client: Client | None = None,
        agent_id: str | uuid.UUID | None = None,
        *,
        async_client: AsyncClient | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        text_field: str = "text",
        role: Role = "user",
        min_score: float | None = None,
    ) -> None:
        try:
            self.min_score = _MIN_SCORE.validate_python(min_score)
        except ValidationError as exc:
            raise InvalidInput("min_score", exc.errors()[0]["msg"]) from None
        if client is None:
            if base_url is None or api_key is None:
                raise ConfigurationError("give a Client, or base_url and api_key")
            client = Client(base_url, api_key)
        self.client = client
        self.async_client = async_client
        self.agent_id = str(agent_id) if agent_id is not None else None
        self.text_field = text_field
        self.role = role

    # -- carrying the plans ------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        return [_run(self._plan(op), self.client) for op in ops]

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        if self.async_client is None:
            return await asyncio.to_thread(self.batch, list(ops))
        return [await _arun(self._plan(op), self.async_client) for op in ops]

    def _plan(self, op: Op) -> Plan[Result]:
        if isinstance(op, GetOp):
            return self._get(op.namespace, op.key)
        if isinstance(op, PutOp):
            return self._put(op)
        if isinstance(op, SearchOp):
            return self._search(op)
        if isinstance(op, ListNamespacesOp):
            return self._list_namespaces(op)
        raise TypeError(f"unknown store operation {type(op).__name__}")

    # -- the operations ----------------------------------------------------------------------

    def _agent(self) -> Plan[str]:
        """The store's agent: given, or the key's binding (asked once)."""
        if self.agent_id is None:
            identity = yield WhoAmIRequest()
            if identity.agent_id is None:
                raise ConfigurationError("give agent_id: this API key is bound to no agent")
            self.agent_id = str(identity.agent_id)
        return self.agent_id

    def _get(self, namespace: tuple[str, ...], key: str) -> Plan[Item | None]:
        found = yield from self._find(namespace, key)
        return found[0] if found is not None else None

    def _find(self, namespace: tuple[str, ...], key: str) -> Plan[tuple[Item, uuid.UUID] | None]:
        """The item and its turn id: the id derived from the key, or the key itself when it
        is the id of a turn stored by chat in this namespace. An id names one turn per (agent,
        user), so the lookup names the namespace's user."""
        user, _ = _scope(namespace)
        agent = yield from self._agent()
        candidates = [item_id(agent, namespace, key)]
        chat_turn = _as_uuid(key)
        if chat_turn is not None:
            candidates.append(chat_turn)
        for turn_id in candidates:
            try:
                turn = yield build(GetTurnRequest, turn_id=turn_id, agent_id=agent, user_id=user)
            except NotFound:
                continue
            item = self._item(turn)
            if str(turn.agent_id) == agent and (item.namespace, item.key) == (namespace, key):
                return item, turn_id
        return None

    def _put(self, op: PutOp) -> Plan[None]:
        user, thread = _scope(op.namespace)
        agent = yield from self._agent()
        where = f"{'/'.join(op.namespace)}/{op.key}"
        if op.value is None:
            yield from self._delete(agent, user, op.namespace, op.key, where)
            return None
        value = dict(op.value)
        turn: dict[str, Any] = {
            "id": item_id(agent, op.namespace, op.key),
            "agent_id": agent,
            "user_id": user,
            "role": self.role,
            "content": self._text(value, op.index, where),
            "metadata": {ITEM_FIELD: {"key": op.key, "value": value}},
        }
        if thread is not None:
            turn["conversation_id"] = thread
        try:
            yield build(RememberRequest, turns=[turn])
        except Conflict as exc:
            if "erased" in str(exc):
                deleted = f"put {where}: this key was deleted (erased); use a new key"
                raise Conflict(deleted) from exc
            raise Conflict(
                f"put {where}: the key holds another value and stored turns are append-only; "
                "put the new value under a new key"
            ) from exc
        return None

    def _delete(
        self, agent: str, user: str, namespace: tuple[str, ...], key: str, where: str
    ) -> Plan[None]:
        # Erased even when absent: a key without the erase scope learns so either way.
        found = yield from self._find(namespace, key)
        turn_id = found[1] if found is not None else item_id(agent, namespace, key)
        try:
            yield build(EraseRequest, agent_id=agent, user_id=user, turn_ids=[turn_id])
        except Forbidden as exc:
            raise Forbidden(
                f"delete {where}: deleting erases the turn, which needs an API key with the "
                f"'erase' scope ({exc})"
            ) from exc
        return None

    def _search(self, op: SearchOp) -> Plan[list[SearchItem]]:
        prefix = op.namespace_prefix
        if len(prefix) > 2:
            raise InvalidNamespaceError(
                f"namespace prefix {prefix}: namespaces are (user_id,) or (user_id, thread)"
            )
        agent = yield from self._agent()
        wanted = op.offset + op.limit
        user = prefix[0] if prefix else None
        thread = prefix[1] if len(prefix) == 2 else None
        if op.query:
            if wanted > MAX_K:
                raise InvalidInput("limit", f"offset + limit is at most {MAX_K} with a query")
            k = MAX_K if op.filter else wanted
            request: Request[Any]
            if user is None:
                request = build(
                    RecallAcrossUsersRequest,
                    agent_id=agent,
                    query=op.query,
                    k=k,
                    min_score=self.min_score,
                )
            else:
                request = build(
                    RecallRequest,
                    agent_id=agent,
                    user_id=user,
                    conversation_id=thread,
                    query=op.query,
                    k=k,
                    min_score=self.min_score,
                )
            hits: list[Hit] = (yield request).hits
            found = [self._item(hit, hit.score) for hit in hits]
        else:
            if user is None:
                raise InvalidNamespaceError(
                    "a search without a query lists one user's items: give namespace_prefix "
                    "(user_id,) or (user_id, thread)"
                )
            found = yield from self._newest(agent, user, thread, wanted, op.filter)
        matching = [item for item in found if value_matches(item.value, op.filter)]
        return matching[op.offset : wanted]

    def _newest(
        self,
        agent: str,
        user: str,
        thread: str | None,
        wanted: int,
        condition: dict[str, Any] | None,
    ) -> Plan[list[SearchItem]]:
        """The newest items of a user or thread, paging back until ``wanted`` match."""
        found: list[SearchItem] = []
        size = MAX_HISTORY if condition else min(MAX_HISTORY, max(wanted, 1))
        before = None
        while True:
            page = yield build(
                HistoryRequest,
                agent_id=agent,
                user_id=user,
                conversation_id=thread,
                limit=size,
                before=before,
            )
            found += [self._item(turn) for turn in reversed(page.turns)]
            enough = sum(value_matches(item.value, condition) for item in found) >= wanted
            if enough or len(page.turns) < size:
                return found
            before = page.turns[0].id

    def _list_namespaces(self, op: ListNamespacesOp) -> Plan[list[tuple[str, ...]]]:
        agent = yield from self._agent()
        namespaces: set[tuple[str, ...]] = set()
        offset = 0
        while True:
            page = yield build(ListScopesRequest, agent_id=agent, limit=MAX_LISTED, offset=offset)
            for scope in page.scopes:
                namespace = _namespace_of(scope.user_id, scope.conversation_id)
                if all(namespace_matches(c, namespace) for c in op.match_conditions or ()):
                    namespaces.add(namespace[: op.max_depth] if op.max_depth else namespace)
            if len(page.scopes) < MAX_LISTED:
                break
            offset += MAX_LISTED
        return sorted(namespaces)[op.offset : op.offset + op.limit]

    # -- items and turns ---------------------------------------------------------------------

    def _text(self, value: Mapping[str, Any], index: Any, where: str) -> str:
        """What is embedded: the text field, or the fields named by ``index``, joined."""
        paths = index if isinstance(index, list) and index else [self.text_field]
        texts = [text for path in paths for text in get_text_at_path(dict(value), path)]
        text = "\n".join(t for t in texts if t.strip())
        if not text:
            fields = " or ".join(f"value.{path}" for path in paths)
            raise InvalidInput(fields, f"put {where}: needs text here to embed")
        return text

    def _item(self, turn: StoredTurn | Hit, score: float | None = None) -> SearchItem:
        namespace = _namespace_of(turn.user_id, turn.conversation_id)
        stored = (turn.metadata or {}).get(ITEM_FIELD)
        if isinstance(stored, dict) and isinstance(stored.get("value"), dict):
            key, value = str(stored.get("key")), stored["value"]
        else:  # a turn stored by chat, not through the store
            key, value = str(turn.id), {self.text_field: turn.content, "role": turn.role}
        return SearchItem(
            namespace=namespace,
            key=key,
            value=value,
            created_at=turn.occurred_at,
            updated_at=turn.occurred_at,  # turns are never updated
            score=score,
        )


# Errors of a request that a plan handles itself (an absent turn, a refused put or delete).
_ANSWERED = (NotFound, Conflict, Forbidden)


def _advance(plan: Plan[T], outcome: tuple[bool, Any]) -> tuple[bool, Any]:
    """Hand the plan the last request's result (or error): (False, its next request), or
    (True, its answer) once it is done."""
    ok, value = outcome
    try:
        return False, plan.send(value) if ok else plan.throw(value)
    except StopIteration as done:
        return True, done.value


def _run(plan: Plan[T], client: Client) -> T:
    """Carry a plan's requests over the blocking client."""
    finished, value = _advance(plan, (True, None))
    while not finished:
        try:
            outcome: tuple[bool, Any] = (True, client.run(value))
        except _ANSWERED as exc:
            outcome = (False, exc)
        finished, value = _advance(plan, outcome)
    return value  # type: ignore[no-any-return]


async def _arun(plan: Plan[T], client: AsyncClient) -> T:
    finished, value = _advance(plan, (True, None))
    while not finished:
        try:
            outcome: tuple[bool, Any] = (True, await client.run(value))
        except _ANSWERED as exc:
            outcome = (False, exc)
        finished, value = _advance(plan, outcome)
    return value  # type: ignore[no-any-return]


def _scope(namespace: tuple[str, ...]) -> tuple[str, str | None]:
    if len(namespace) not in (1, 2):
        raise InvalidNamespaceError(
            f"namespace {namespace}: give (user_id,) or (user_id, thread); the store's agent "
            "is the one it was made for"
        )
    return namespace[0], namespace[1] if len(namespace) == 2 else None


def _namespace_of(user_id: str, thread: str | None) -> tuple[str, ...]:
    return (user_id,) if thread is None else (user_id, thread)


def _as_uuid(key: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(key)
    except ValueError:
        return None
