"""The scope listing reads per-scope summaries kept by triggers (migration 015): after inserts,
concurrent inserts, erasure of users and of chosen turns, retention and a tenant's deletion it
answers exactly what grouping the turns answers; the runtime role may only read them, and only
its tenant's."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
from konstruct_memory.operations import ScopeSummary
from konstruct_memory.tenant_memory import TenantMemory
from tests.conftest import DatabaseUnderTest
from tests.rows import vector

AGENT, OTHER_AGENT = uuid.uuid4(), uuid.uuid4()
DAY = datetime(2026, 3, 1, 12, tzinfo=UTC)

# The statement the listing ran before the summaries: the reference they must equal.
GROUPED = """
SELECT agent_id, user_id, conversation_id, count(*), min(occurred_at), max(occurred_at)
FROM conversation_embeddings WHERE tenant_id = %s
GROUP BY agent_id, user_id, conversation_id
ORDER BY agent_id, user_id, conversation_id NULLS FIRST
"""
SUMMARIES = "SELECT count(*) FROM scope_summaries WHERE tenant_id = %s"
Row = tuple[Any, ...]


def said(
    user: str, at: datetime, conversation: str | None = None, agent: UUID = AGENT, **more: Any
) -> dict[str, Any]:
    return {
        "agent_id": agent,
        "user_id": user,
        "role": "user",
        "content": f"{user} at {at.isoformat()}",
        "conversation_id": conversation,
        "occurred_at": at,
        **more,
    }


def grouped(database: DatabaseUnderTest, tenant_id: UUID | None) -> list[Row]:
    """The old statement's answer, as the superuser (row-level security does not apply)."""
    with psycopg.connect(database.superuser_url) as conn:
        return [tuple(row) for row in conn.execute(GROUPED, [tenant_id]).fetchall()]


def listed(tenant: TenantMemory, **filters: Any) -> list[Row]:
    scopes: list[ScopeSummary] = tenant.list_scopes(limit=1000, **filters)
    return [
        (s.agent_id, s.user_id, s.conversation_id, s.turns, s.first_occurred_at, s.last_occurred_at)
        for s in scopes
    ]


def assert_listing_is_the_grouping(database: DatabaseUnderTest, tenant: TenantMemory) -> None:
    expected = grouped(database, tenant.tenant_id)
    assert listed(tenant) == expected
    with psycopg.connect(database.superuser_url) as conn:
        [(summaries,)] = conn.execute(SUMMARIES, [tenant.tenant_id]).fetchall()
    assert summaries == len(expected), "a scope without turns keeps no summary"


def a_conversation_mix(hours: int = 12) -> list[dict[str, Any]]:
    turns = []
    for hour in range(hours):
        at = DAY + timedelta(hours=hour)
        turns.append(said("U1", at, "c-1" if hour % 3 else None))
        turns.append(said("U2", at - timedelta(days=hour), "c-2"))
        turns.append(said("U1", at, "c-3", agent=OTHER_AGENT))
    return turns


def test_the_listing_is_the_grouping_after_inserts(
    database: DatabaseUnderTest, tenant: TenantMemory
) -> None:
    mix = a_conversation_mix()
    first = tenant.remember(mix)
    assert_listing_is_the_grouping(database, tenant)
    # An earlier and a later turn widen the span; a retried turn is not counted twice.
    retried = {**mix[3], "id": first[3].id}
    tenant.remember(
        [said("U1", DAY - timedelta(days=9), "c-1"), said("U1", DAY + timedelta(days=9)), retried]
    )
    assert_listing_is_the_grouping(database, tenant)
    everything = grouped(database, tenant.tenant_id)
    assert listed(tenant, agent_id=AGENT) == [row for row in everything if row[0] == AGENT]
    assert listed(tenant, user_id="U1") == [row for row in everything if row[1] == "U1"]
    assert listed(tenant, agent_id=OTHER_AGENT, user_id="U2") == []
    paged = [s.conversation_id for s in tenant.list_scopes(limit=2, offset=1)]
    assert paged == [row[2] for row in everything[1:3]]


def test_concurrent_inserts_and_erasures_into_the_same_scopes_are_all_counted(
    database: DatabaseUnderTest, tenant: TenantMemory
) -> None:
    users = [f"U{n}" for n in range(6)]

    def write(worker: int) -> None:
        # Each worker touches the same scopes in another order: the upserts must not deadlock.
        order = users[worker % len(users) :] + users[: worker % len(users)]
        for batch in range(5):
            at = DAY + timedelta(minutes=worker * 10 + batch)
            tenant.remember([said(user, at, f"c{batch % 2}") for user in order])

    def erase_some(worker: int) -> None:
        for _ in range(3):
            kept = tenant.history(AGENT, users[worker], limit=2)
            if kept:
                tenant.erase(turn_ids=[turn.id for turn in kept])

    with ThreadPoolExecutor(max_workers=8) as pool:
        jobs = [pool.submit(write, worker) for worker in range(8)]
        jobs += [pool.submit(erase_some, worker) for worker in range(2)]
        for job in jobs:
            job.result()
    assert_listing_is_the_grouping(database, tenant)
    assert sum(row[3] for row in listed(tenant)) == len(users) * 5 * 8 - sum(
        e.turns_erased for e in tenant.list_erasures()
    )


def test_erasure_of_a_user_removes_its_scopes_and_keeps_the_others(
    database: DatabaseUnderTest, tenant: TenantMemory
) -> None:
    tenant.remember(a_conversation_mix())
    tenant.erase(agent_id=AGENT, user_id="U2")
    assert_listing_is_the_grouping(database, tenant)
    assert {row[1] for row in listed(tenant, agent_id=AGENT)} == {"U1"}
    tenant.erase(user_id="U1")  # of every agent
    assert listed(tenant) == [] and grouped(database, tenant.tenant_id) == []
    assert_listing_is_the_grouping(database, tenant)


def test_erasure_of_chosen_turns_moves_first_and_last(
    database: DatabaseUnderTest, tenant: TenantMemory
) -> None:
    stored = tenant.remember([said("U1", DAY + timedelta(hours=h), "c") for h in range(5)])
    lonely = tenant.remember([said("U1", DAY, "alone")])
    tenant.erase(turn_ids=[stored[2].id])  # the middle: the count only
    assert_listing_is_the_grouping(database, tenant)
    tenant.erase(turn_ids=[stored[0].id, stored[4].id])  # the first and the last
    [scope] = listed(tenant, agent_id=AGENT)[1:]
    assert scope[3:] == (2, DAY + timedelta(hours=1), DAY + timedelta(hours=3))
    assert_listing_is_the_grouping(database, tenant)
    tenant.erase(turn_ids=[lonely[0].id])
    assert [row[2] for row in listed(tenant)] == ["c"]
    assert_listing_is_the_grouping(database, tenant)


def test_retention_moves_first_and_removes_expired_scopes(
    database: DatabaseUnderTest, memory: Memory, tenant: TenantMemory
) -> None:
    now = datetime.now(UTC)
    old = [now - timedelta(days=40 + d) for d in range(3)]
    tenant.remember(
        [said("U1", at, "kept") for at in old]
        + [said("U1", now - timedelta(days=1), "kept"), said("U1", now, "kept")]
        + [said("U2", at, "expired") for at in old]
    )
    assert tenant.tenant_id is not None
    memory.update_tenant(tenant.tenant_id, retention_days=30)
    memory.apply_retention(batch=2)
    [scope] = listed(tenant)
    assert scope[2:4] == ("kept", 2)
    assert_listing_is_the_grouping(database, tenant)


def test_deleting_a_tenant_deletes_its_summaries(
    database: DatabaseUnderTest, tenant: TenantMemory
) -> None:
    tenant.remember(a_conversation_mix(2))
    with psycopg.connect(database.admin_url) as owner:
        owner.execute("DELETE FROM tenants WHERE id = %s", [tenant.tenant_id])
    with psycopg.connect(database.superuser_url) as conn:
        assert conn.execute(SUMMARIES, [tenant.tenant_id]).fetchall() == [(0,)]


def test_a_removal_outside_its_tenant_that_leaves_turns_is_refused(
    database: DatabaseUnderTest, tenant: TenantMemory
) -> None:
    stored = tenant.remember([said("U1", DAY), said("U1", DAY + timedelta(hours=1))])
    # The superuser sees every turn, but the summaries' first and last cannot be read again
    # from the turns outside a transaction set to their tenant.
    with psycopg.connect(database.superuser_url) as conn:
        with pytest.raises(errors.InsufficientPrivilege, match="outside a transaction set to"):
            conn.execute("DELETE FROM conversation_embeddings WHERE id = %s", [stored[0].id])
        conn.rollback()
        with conn.transaction():
            conn.execute(
                "SELECT set_config('app.current_tenant', %s, true)", [str(tenant.tenant_id)]
            )
            conn.execute("DELETE FROM conversation_embeddings WHERE id = %s", [stored[0].id])
    assert_listing_is_the_grouping(database, tenant)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE scope_summaries SET turns = turns + 1",
        "DELETE FROM scope_summaries",
        "TRUNCATE scope_summaries",
        "INSERT INTO scope_summaries (tenant_id, agent_id, user_id, turns, first_occurred_at, "
        "last_occurred_at) VALUES (%(tenant_id)s, gen_random_uuid(), 'U9', 1, now(), now())",
    ],
)
def test_the_runtime_role_may_only_read_the_summaries(
    pool: ConnectionPool[Any],
    tenant: TenantMemory,
    statement: str,
) -> None:
    tenant.remember([said("U1", DAY)])
    assert tenant.tenant_id is not None
    with (
        pytest.raises(errors.InsufficientPrivilege),
        tenant_transaction(pool, tenant.tenant_id) as tx,
    ):
        tx.conn.execute(statement, tx.params())
    assert [row[3] for row in listed(tenant)] == [1]


def test_another_tenants_summaries_are_invisible(
    pool: ConnectionPool[Any], memory: Memory, new_tenant: Callable[[], UUID]
) -> None:
    mine, theirs = memory.tenant(new_tenant()), memory.tenant(new_tenant())
    mine.remember([said("U1", DAY)])
    theirs.remember([said("U1", DAY), said("U2", DAY)])
    assert mine.tenant_id is not None and theirs.tenant_id is not None
    with tenant_transaction(pool, mine.tenant_id) as tx:
        seen = tx.conn.execute("SELECT tenant_id FROM scope_summaries").fetchall()
        named = tx.conn.execute(
            "SELECT count(*) AS n FROM scope_summaries WHERE tenant_id = %s", [theirs.tenant_id]
        ).fetchone()
    assert [row["tenant_id"] for row in seen] == [mine.tenant_id]
    assert named == {"n": 0}
    with pool.connection() as conn:  # no tenant set: nothing
        assert conn.execute("SELECT count(*) AS n FROM scope_summaries").fetchone() == {"n": 0}
    assert len(listed(theirs)) == 2 and len(listed(mine)) == 1


def test_the_migration_summarises_turns_stored_before_it(
    new_database: Callable[[], DatabaseUnderTest],
) -> None:
    db = new_database()
    migrate.upgrade(db.admin_url, "014")
    agent = uuid.uuid4()
    with psycopg.connect(db.superuser_url, autocommit=True) as conn:
        [(tenant_id,)] = conn.execute("INSERT INTO tenants (name) VALUES ('old') RETURNING id")
        for n, (user, conversation) in enumerate(
            [("U1", None), ("U1", None), ("U1", "c"), ("U2", None)]
        ):
            conn.execute(
                "INSERT INTO conversation_embeddings (tenant_id, agent_id, user_id, content, role,"
                " embedding, embedding_model, conversation_id, occurred_at)"
                " VALUES (%s, %s, %s, 'x', 'user', %s::vector, 'm', %s, %s)",
                [tenant_id, agent, user, str(vector(n).tolist()), conversation,
                 DAY + timedelta(hours=n)],
            )  # fmt: skip
    migrate.upgrade(db.admin_url)
    with psycopg.connect(db.superuser_url) as conn:
        summaries = conn.execute(
            "SELECT agent_id, user_id, conversation_id, turns, first_occurred_at,"
            " last_occurred_at FROM scope_summaries"
            " ORDER BY agent_id, user_id, conversation_id NULLS FIRST"
        ).fetchall()
    assert [tuple(row) for row in summaries] == grouped(db, tenant_id)
    assert [row[3] for row in summaries] == [2, 1, 1]
    migrate.downgrade(db.admin_url, "014")
    migrate.upgrade(db.admin_url)
