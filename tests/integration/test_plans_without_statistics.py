"""Statements that read a few given turns read them by key even before the table has
statistics: right after a bulk load, until autovacuum analyses it, the planner guesses
every equality's selectivity, and a statement that also names the scope's columns was
planned as a walk of the whole scope (an agent's every turn, once per candidate)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import numpy as np
import psycopg
import pytest

from konstruct_memory.db import migrate
from konstruct_memory.db.tenant import create_pool, tenant_transaction
from konstruct_memory.operations import Turn
from konstruct_memory.store import search
from konstruct_memory.store import turns as store
from konstruct_memory.store.scope import Scope
from tests.conftest import DatabaseUnderTest

AGENT = uuid.UUID("66666666-6666-4666-8666-666666666666")
MODEL = "test-model"
TURNS = 3_000


@pytest.fixture(scope="module")
def unanalysed(
    new_database: Callable[[], DatabaseUnderTest],
) -> Iterator[tuple[DatabaseUnderTest, uuid.UUID, list[uuid.UUID], np.ndarray]]:
    """A database of its own whose turns table autovacuum never analyses: 3,000 turns of
    one agent over three users, one speaker, with vectors in a few tight clusters (so that
    restatements exist)."""
    db = new_database()
    migrate.upgrade(db.admin_url)
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE conversation_embeddings SET (autovacuum_enabled = false)")
        tenant = conn.execute("INSERT INTO tenants (name) VALUES ('t') RETURNING id").fetchone()
    assert tenant is not None
    rng = np.random.default_rng(11)
    centres = rng.normal(size=(20, 384))
    vectors = centres[rng.integers(20, size=TURNS)] + 0.3 * rng.normal(size=(TURNS, 384))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    ids = [uuid.uuid4() for _ in range(TURNS)]
    turns = [
        (ids[i], Turn(agent_id=AGENT, user_id=f"U{i % 3}", role="user", content=f"t{i}"))
        for i in range(TURNS)
    ]
    pool = create_pool(db.runtime_url, min_size=1, max_size=1)
    try:
        with tenant_transaction(pool, tenant[0]) as tx:
            store.insert_turns(tx, MODEL, turns, vectors)
        with psycopg.connect(db.admin_url) as conn:
            analysed = conn.execute(
                "SELECT count(*) FROM pg_stats WHERE tablename = 'conversation_embeddings'"
            ).fetchone()
        assert analysed == (0,)
        yield db, tenant[0], ids, vectors
    finally:
        pool.close()


def test_restatements_are_read_by_primary_key_without_statistics(
    unanalysed: tuple[DatabaseUnderTest, uuid.UUID, list[uuid.UUID], np.ndarray],
) -> None:
    db, tenant, ids, vectors = unanalysed
    later = [(ids[i], f"U{i % 3}") for i in range(TURNS - 30, TURNS)]
    earlier = [(ids[i], f"U{i % 3}") for i in range(0, TURNS, 20)]
    pool = create_pool(db.runtime_url, min_size=1, max_size=1)
    plans: list[str] = []
    try:
        with tenant_transaction(pool, tenant) as tx:
            pairs = search.restated(tx, Scope(AGENT, None, MODEL), later, earlier, 0.5)
            search.restated(tx, Scope(AGENT, None, MODEL), later, earlier, 0.5, plans=plans)
    finally:
        pool.close()
    plan = "\n".join(plans)
    assert plan.count("conversation_embeddings_pkey") == 2, plan
    assert "ix_conv_embed_scope_model" not in plan, plan

    index = {turn_id: i for i, turn_id in enumerate(ids)}
    expected = {
        (a, b)
        for a in later
        for b in earlier
        if a[1] == b[1]
        and index[b[0]] < index[a[0]]
        and float(vectors[index[a[0]]] @ vectors[index[b[0]]]) >= 0.5
    }
    assert expected, "the clusters should give restatements"
    assert {(a, b) for a, b, _ in pairs} == expected
