"""The vector stage: exact search unless a scope across users is large, and never short."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from uuid import UUID

import numpy as np
import pytest
from psycopg_pool import ConnectionPool

from konstruct_memory import store
from konstruct_memory.db import Connection, tenant_transaction
from konstruct_memory.models import validate_turn

AGENT = uuid.UUID("77777777-7777-4777-8777-777777777777")
MODEL = "test-model"


@pytest.fixture
def agent_scope(
    pool: ConnectionPool[Connection], new_tenant: Callable[[], UUID]
) -> tuple[store.Scope, dict[UUID, np.ndarray]]:
    """300 turns of one agent over three users, with seeded random unit vectors."""
    tenant = new_tenant()
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(300, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    turns = [
        (
            uuid.uuid4(),
            validate_turn(
                {"agent_id": AGENT, "user_id": f"U{i % 3}", "role": "user", "content": f"t{i}"},
                "t",
                max_content_bytes=100,
            ),
        )
        for i in range(300)
    ]
    with tenant_transaction(pool, tenant) as conn:
        store.insert_turns(conn, tenant, MODEL, turns, vectors)
    scope = store.Scope(tenant, AGENT, None, MODEL)
    return scope, {turn_id: vectors[i] for i, (turn_id, _) in enumerate(turns)}


def exact_top(vectors: dict[UUID, np.ndarray], q: np.ndarray, k: int) -> list[UUID]:
    ids = list(vectors)
    similarity = np.array([vectors[i] @ q for i in ids])
    return [ids[i] for i in np.argsort(-similarity, kind="stable")[:k]]


def test_an_agent_scope_under_the_limit_is_searched_exactly(
    pool: ConnectionPool[Connection], agent_scope: tuple[store.Scope, dict[UUID, np.ndarray]]
) -> None:
    scope, vectors = agent_scope
    q = next(iter(vectors.values())) + 0.5 * vectors[list(vectors)[7]]
    q /= np.linalg.norm(q)
    with tenant_transaction(pool, scope.tenant_id) as conn:
        got = [i for i, _ in store.nearest(conn, scope, q, 25)]
        plan = "\n".join(store.explain_nearest(conn, scope, q, 25))
    assert got == exact_top(vectors, q, 25)
    assert "Subquery Scan on scope" in plan and "ix_conv_embed_hnsw" not in plan
    assert "never executed" not in plan
    with tenant_transaction(pool, scope.tenant_id) as conn:
        nobody = store.Scope(scope.tenant_id, uuid.uuid4(), None, MODEL)
        assert store.nearest(conn, nobody, q, 10) == []


def test_an_agent_scope_over_the_limit_uses_the_index(
    pool: ConnectionPool[Connection],
    agent_scope: tuple[store.Scope, dict[UUID, np.ndarray]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store, "EXACT_SCOPE_ROWS", 50)
    scope, vectors = agent_scope
    q = vectors[list(vectors)[3]]
    with tenant_transaction(pool, scope.tenant_id) as conn:
        plan = "\n".join(store.explain_nearest(conn, scope, q, 10))
        top = store.nearest(conn, scope, q, 10)
    # The exact search was gated off (its scan never ran); the indexed statement answered.
    assert "never executed" in plan and plan.count("Execution Time") == 2
    assert top[0][0] == list(vectors)[3]
    assert len(top) == 10 and set(i for i, _ in top) <= set(vectors)
