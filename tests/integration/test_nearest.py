"""The vector stage: exact search unless a scope is large, and never short."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from uuid import UUID

import numpy as np
import pytest
from psycopg_pool import ConnectionPool

from konstruct_memory.db.tenant import Connection, tenant_transaction
from konstruct_memory.operations import Turn
from konstruct_memory.store import search
from konstruct_memory.store import turns as store
from konstruct_memory.store.scope import Scope

AGENT = uuid.UUID("77777777-7777-4777-8777-777777777777")
MODEL = "test-model"


@pytest.fixture
def agent_scope(
    pool: ConnectionPool[Connection], new_tenant: Callable[[], UUID]
) -> tuple[UUID, Scope, dict[UUID, np.ndarray]]:
    """300 turns of one agent over three users, with seeded random unit vectors."""
    tenant = new_tenant()
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(300, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    turns = [
        (
            uuid.uuid4(),
            Turn(agent_id=AGENT, user_id=f"U{i % 3}", role="user", content=f"t{i}"),
        )
        for i in range(300)
    ]
    with tenant_transaction(pool, tenant) as tx:
        store.insert_turns(tx, MODEL, turns, vectors)
    scope = Scope(AGENT, None, MODEL)
    return tenant, scope, {turn_id: vectors[i] for i, (turn_id, _) in enumerate(turns)}


def exact_top(vectors: dict[UUID, np.ndarray], q: np.ndarray, k: int) -> list[UUID]:
    ids = list(vectors)
    similarity = np.array([vectors[i] @ q for i in ids])
    return [ids[i] for i in np.argsort(-similarity, kind="stable")[:k]]


def test_an_agent_scope_under_the_limit_is_searched_exactly(
    pool: ConnectionPool[Connection], agent_scope: tuple[UUID, Scope, dict[UUID, np.ndarray]]
) -> None:
    tenant, scope, vectors = agent_scope
    q = next(iter(vectors.values())) + 0.5 * vectors[list(vectors)[7]]
    q /= np.linalg.norm(q)
    with tenant_transaction(pool, tenant) as tx:
        got = [i for i, _ in search.nearest(tx, scope, q, 25)]
        plan = "\n".join(search.explain_nearest(tx, scope, q, 25))
    assert got == exact_top(vectors, q, 25)
    assert "Subquery Scan on scope" in plan and "ix_conv_embed_hnsw" not in plan
    assert "never executed" not in plan
    with tenant_transaction(pool, tenant) as tx:
        nobody = Scope(uuid.uuid4(), None, MODEL)
        assert search.nearest(tx, nobody, q, 10) == []


def test_an_agent_scope_over_the_limit_uses_the_index(
    pool: ConnectionPool[Connection],
    agent_scope: tuple[UUID, Scope, dict[UUID, np.ndarray]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(search, "EXACT_SCOPE_ROWS", 50)
    tenant, scope, vectors = agent_scope
    q = vectors[list(vectors)[3]]
    with tenant_transaction(pool, tenant) as tx:
        plan = "\n".join(search.explain_nearest(tx, scope, q, 10))
        top = search.nearest(tx, scope, q, 10)
    # The exact search was gated off (its scan never ran); the indexed statement answered.
    assert "never executed" in plan and plan.count("Execution Time") == 2
    assert top[0][0] == list(vectors)[3]
    assert len(top) == 10 and set(i for i, _ in top) <= set(vectors)


def test_a_heavy_user_scope_uses_the_index_and_falls_back_when_short(
    pool: ConnectionPool[Connection],
    agent_scope: tuple[UUID, Scope, dict[UUID, np.ndarray]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(search, "EXACT_SCOPE_ROWS", 50)
    tenant, _, vectors = agent_scope
    user = Scope(AGENT, "U0", MODEL)  # 100 turns: over the (lowered) limit
    mine = {i: v for n, (i, v) in enumerate(vectors.items()) if n % 3 == 0}
    q = vectors[list(mine)[5]]
    with tenant_transaction(pool, tenant) as tx:
        plan = "\n".join(search.explain_nearest(tx, user, q, 10))
        top = search.nearest(tx, user, q, 10)
        # A thread no turn belongs to leaves the index scan short: the exact search answers.
        empty_thread = Scope(AGENT, "U0", MODEL, conversation_id="none")
        assert search.nearest(tx, empty_thread, q, 10) == []
    assert "never executed" in plan and "ix_conv_embed_hnsw" in plan
    assert [i for i, _ in top] == exact_top(mine, q, 10)
