"""The keyword postings (migration 018): triggers keep one row per (turn, lexeme) exactly on
inserts, erasure of users and of chosen turns, retention and a tenant's deletion; the migration
gives turns stored before it theirs; the runtime role may only read its own tenant's."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import errors
from psycopg_pool import ConnectionPool

from konstruct_memory.db import migrate
from konstruct_memory.db.tenant import tenant_transaction
from konstruct_memory.library import Memory
from konstruct_memory.tenant_memory import TenantMemory
from tests.conftest import DatabaseUnderTest
from tests.rows import vector

AGENT, OTHER_AGENT = uuid.uuid4(), uuid.uuid4()
DAY = datetime(2026, 3, 1, 12, tzinfo=UTC)
Row = tuple[Any, ...]

# What the postings must be: each stored turn's lexemes, as the superuser sees them.
FROM_TURNS = """
SELECT agent_id, w.lexeme, user_id, id FROM conversation_embeddings
CROSS JOIN LATERAL unnest(tsvector_to_array(content_tsv)) AS w(lexeme)
WHERE tenant_id = %s ORDER BY 1, 2, 3, 4
"""
POSTINGS = """
SELECT agent_id, lexeme, user_id, turn_id FROM keyword_postings
WHERE tenant_id = %s ORDER BY 1, 2, 3, 4
"""
TEXTS = ["My dog Rex chews shoes", "We hiked the Alps in June", "Rex hates the vet", "Ok!"]


def said(user: str, n: int, agent: UUID = AGENT, **more: Any) -> dict[str, Any]:
    return {
        "agent_id": agent,
        "user_id": user,
        "role": "user",
        "content": TEXTS[n % len(TEXTS)],
        "occurred_at": DAY + timedelta(hours=n),
        **more,
    }


def postings(url: str, tenant_id: UUID | None) -> list[Row]:
    with psycopg.connect(url) as conn:
        return [tuple(r) for r in conn.execute(POSTINGS, [tenant_id]).fetchall()]


def assert_postings_are_the_turns_lexemes(database: DatabaseUnderTest, tenant_id: Any) -> None:
    with psycopg.connect(database.superuser_url) as conn:
        expected = [tuple(r) for r in conn.execute(FROM_TURNS, [tenant_id]).fetchall()]
    assert postings(database.superuser_url, tenant_id) == expected


def test_inserts_add_each_turns_lexemes(database: DatabaseUnderTest, tenant: TenantMemory) -> None:
    first = tenant.remember([said("U1", n) for n in range(4)] + [said("U2", 1, OTHER_AGENT)])
    tenant.remember([said("U1", 0, id=first[0].id)])  # a retry adds nothing
    assert_postings_are_the_turns_lexemes(database, tenant.tenant_id)
    rex = [r for r in postings(database.superuser_url, tenant.tenant_id) if r[1] == "rex"]
    assert {r[3] for r in rex} == {first[0].id, first[2].id}


def test_erasure_and_retention_remove_the_postings(
    database: DatabaseUnderTest, memory: Memory, tenant: TenantMemory
) -> None:
    stored = tenant.remember([said("U1", n) for n in range(4)] + [said("U2", n) for n in range(4)])
    tenant.erase(turn_ids=[stored[0].id])
    assert_postings_are_the_turns_lexemes(database, tenant.tenant_id)
    tenant.erase(agent_id=AGENT, user_id="U2")
    assert_postings_are_the_turns_lexemes(database, tenant.tenant_id)
    assert {r[2] for r in postings(database.superuser_url, tenant.tenant_id)} == {"U1"}
    now = datetime.now(UTC)
    tenant.remember(
        [said("U3", 0, occurred_at=now - timedelta(days=40)), said("U3", 1, occurred_at=now)]
    )
    assert tenant.tenant_id is not None
    memory.update_tenant(tenant.tenant_id, retention_days=30)
    memory.apply_retention(batch=2)
    assert_postings_are_the_turns_lexemes(database, tenant.tenant_id)
    assert {r[2] for r in postings(database.superuser_url, tenant.tenant_id)} == {"U3"}


def test_deleting_a_tenant_deletes_its_postings(
    database: DatabaseUnderTest, tenant: TenantMemory
) -> None:
    tenant.remember([said("U1", n) for n in range(3)])
    with psycopg.connect(database.admin_url) as owner:
        owner.execute("DELETE FROM tenants WHERE id = %s", [tenant.tenant_id])
    assert postings(database.superuser_url, tenant.tenant_id) == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE keyword_postings SET lexeme = 'x'",
        "DELETE FROM keyword_postings",
        "TRUNCATE keyword_postings",
        "INSERT INTO keyword_postings (tenant_id, agent_id, lexeme, user_id, turn_id) "
        "VALUES (%(tenant_id)s, gen_random_uuid(), 'x', 'U9', gen_random_uuid())",
    ],
)
def test_the_runtime_role_may_only_read_the_postings(
    pool: ConnectionPool[Any], database: DatabaseUnderTest, tenant: TenantMemory, statement: str
) -> None:
    tenant.remember([said("U1", 0)])
    assert tenant.tenant_id is not None
    with (
        pytest.raises(errors.InsufficientPrivilege),
        tenant_transaction(pool, tenant.tenant_id) as tx,
    ):
        tx.conn.execute(statement, tx.params())
    assert_postings_are_the_turns_lexemes(database, tenant.tenant_id)


def test_another_tenants_postings_are_invisible(
    pool: ConnectionPool[Any], memory: Memory, new_tenant: Callable[[], UUID]
) -> None:
    mine, theirs = memory.tenant(new_tenant()), memory.tenant(new_tenant())
    mine.remember([said("U1", 0)])
    theirs.remember([said("U1", 0), said("U1", 2)])
    assert mine.tenant_id is not None and theirs.tenant_id is not None
    with tenant_transaction(pool, mine.tenant_id) as tx:
        seen = tx.conn.execute("SELECT DISTINCT tenant_id FROM keyword_postings").fetchall()
        named = tx.conn.execute(
            "SELECT count(*) AS n FROM keyword_postings WHERE tenant_id = %s AND lexeme = 'rex'",
            [theirs.tenant_id],
        ).fetchone()
    assert [row["tenant_id"] for row in seen] == [mine.tenant_id]
    assert named == {"n": 0}
    with pool.connection() as conn:  # no tenant set: nothing
        assert conn.execute("SELECT count(*) AS n FROM keyword_postings").fetchone() == {"n": 0}


def test_the_migration_gives_turns_stored_before_it_their_postings(
    new_database: Callable[[], DatabaseUnderTest],
) -> None:
    db = new_database()
    migrate.upgrade(db.admin_url, "017")
    tenants = []
    with psycopg.connect(db.superuser_url, autocommit=True) as conn:
        for name in ("old", "older"):
            [(tenant_id,)] = conn.execute(
                "INSERT INTO tenants (name) VALUES (%s) RETURNING id", [name]
            )
            tenants.append(tenant_id)
            for n in range(7):
                conn.execute(
                    "INSERT INTO conversation_embeddings (tenant_id, agent_id, user_id, content,"
                    " role, embedding, embedding_model) VALUES (%s, %s, %s, %s, 'user',"
                    " %s::vector, 'm')",
                    [tenant_id, AGENT, f"U{n % 2}", TEXTS[n % 4], str(vector(n).tolist())],
                )
    # Batches of 3 turns: the backfill must neither skip nor repeat a turn at their edges.
    with psycopg.connect(db.superuser_url, autocommit=True) as conn:
        [(name,)] = conn.execute("SELECT current_database()").fetchall()
        conn.execute(f'ALTER DATABASE "{name}" SET konstruct_memory.backfill_batch = 3')
    migrate.upgrade(db.admin_url)
    for tenant_id in tenants:
        assert_postings_are_the_turns_lexemes(db, tenant_id)
        assert len(postings(db.superuser_url, tenant_id)) > 7
    migrate.downgrade(db.admin_url, "017")
    migrate.upgrade(db.admin_url)
    for tenant_id in tenants:
        assert_postings_are_the_turns_lexemes(db, tenant_id)
