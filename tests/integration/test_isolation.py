"""Tenant isolation, tested as the runtime role through the pool, from the attacker's side."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from uuid import UUID

import numpy as np
import psycopg
import pytest
from psycopg import errors
from psycopg_pool import ConnectionPool

from konstruct_memory.db.tenant import Connection, create_pool, tenant_transaction
from konstruct_memory.operations import Turn
from konstruct_memory.store import turns as store
from tests.conftest import DatabaseUnderTest
from tests.rows import count_visible, insert_turn, tenant_connection, vector


def test_without_a_tenant_reads_see_nothing_and_inserts_are_refused(
    pool: ConnectionPool[Connection], new_tenant: Callable[[], UUID]
) -> None:
    tenant = new_tenant()
    with tenant_connection(pool, tenant) as conn:
        insert_turn(conn, tenant)
    with pool.connection() as conn:
        assert count_visible(conn) == 0
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            insert_turn(conn, tenant)


def test_a_tenant_sees_only_its_own_rows(
    pool: ConnectionPool[Connection], new_tenant: Callable[[], UUID]
) -> None:
    a, b = new_tenant(), new_tenant()
    with tenant_connection(pool, a) as conn:
        own = insert_turn(conn, a)
    with tenant_connection(pool, b) as conn:
        theirs = insert_turn(conn, b)
    with tenant_connection(pool, a) as conn:
        ids = {r["id"] for r in conn.execute("SELECT id FROM conversation_embeddings")}
        assert own in ids and theirs not in ids
        # Guessing: naming the other tenant or its row id explicitly still finds nothing.
        guessed = conn.execute(
            "SELECT count(*) AS n FROM conversation_embeddings WHERE tenant_id = %s OR id = %s",
            [b, theirs],
        ).fetchone()
        assert guessed is not None and guessed["n"] == 0


def test_a_tenant_cannot_insert_rows_for_another(
    pool: ConnectionPool[Connection], new_tenant: Callable[[], UUID]
) -> None:
    a, b = new_tenant(), new_tenant()
    with (
        pytest.raises(errors.InsufficientPrivilege, match="row-level security"),
        tenant_connection(pool, a) as conn,
    ):
        insert_turn(conn, b)
    with tenant_connection(pool, b) as conn:
        assert count_visible(conn) == 0


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE conversation_embeddings SET content = 'changed'",
        "DELETE FROM conversation_embeddings",
        "TRUNCATE conversation_embeddings",
        "ALTER TABLE conversation_embeddings NO FORCE ROW LEVEL SECURITY",
        "ALTER TABLE conversation_embeddings DISABLE ROW LEVEL SECURITY",
        "DROP POLICY tenant_isolation ON conversation_embeddings",
        "CREATE POLICY open_door ON conversation_embeddings USING (true)",
        "INSERT INTO tenants (name) VALUES ('rogue')",
        "SELECT * FROM tenants",
    ],
)
def test_runtime_role_cannot_change_history_or_policy(
    pool: ConnectionPool[Connection], new_tenant: Callable[[], UUID], statement: str
) -> None:
    tenant = new_tenant()
    with tenant_connection(pool, tenant) as conn:
        insert_turn(conn, tenant)
    with (
        pytest.raises(errors.InsufficientPrivilege),
        tenant_connection(pool, tenant) as conn,
    ):
        conn.execute(statement)
    with tenant_connection(pool, tenant) as conn:
        assert count_visible(conn) == 1
        row = conn.execute("SELECT content FROM conversation_embeddings").fetchone()
        assert row is not None and row["content"] == "hello"


def test_runtime_role_cannot_become_the_owner(
    database: DatabaseUnderTest, pool: ConnectionPool[Connection]
) -> None:
    owner = psycopg.conninfo.conninfo_to_dict(database.admin_url)["user"]
    with pool.connection() as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(psycopg.sql.SQL("SET ROLE {}").format(psycopg.sql.Identifier(str(owner))))


def test_the_tenant_must_be_a_uuid_object(pool: ConnectionPool[Connection]) -> None:
    with pytest.raises(TypeError), tenant_transaction(pool, "' OR true --"):  # type: ignore[arg-type]
        pass


def test_pool_of_one_reused_across_tenants_never_leaks_nor_raises(
    database: DatabaseUnderTest, new_tenant: Callable[[], UUID]
) -> None:
    a, b = new_tenant(), new_tenant()
    pool = create_pool(database.runtime_url, min_size=1, max_size=1)
    try:
        with tenant_connection(pool, a) as conn:
            a_row = insert_turn(conn, a)
            insert_turn(conn, a)
        with tenant_connection(pool, b) as conn:
            b_row = insert_turn(conn, b)
        pids = set()
        for tenant, expected in [(a, {a_row}), (b, {b_row}), (None, set()), (a, {a_row})]:
            if tenant is None:
                # The same physical connection now reads app.current_tenant as '' (fact 1).
                with pool.connection() as conn:
                    pids.add(conn.info.backend_pid)
                    setting = conn.execute(
                        "SELECT current_setting('app.current_tenant', true) AS s"
                    ).fetchone()
                    assert setting is not None and setting["s"] == ""
                    assert count_visible(conn) == 0
                continue
            with tenant_connection(pool, tenant) as conn:
                pids.add(conn.info.backend_pid)
                ids = {r["id"] for r in conn.execute("SELECT id FROM conversation_embeddings")}
                assert expected <= ids
                assert not ids & ({a_row, b_row} - expected)
        assert len(pids) == 1, "the test must reuse one physical connection"
    finally:
        pool.close()


def test_negative_control_session_level_set_leaks(
    database: DatabaseUnderTest, new_tenant: Callable[[], UUID]
) -> None:
    """What the one tenant switch prevents: a session-level SET survives into the next use."""
    a = new_tenant()
    pool = create_pool(database.runtime_url, min_size=1, max_size=1)
    try:
        with tenant_connection(pool, a) as conn:
            insert_turn(conn, a)
        with pool.connection() as conn:
            conn.execute("SELECT set_config('app.current_tenant', %s, false)", [str(a)])
        with pool.connection() as conn:  # a later, tenant-less borrower
            assert count_visible(conn) == 1, "session-level SET should have leaked"
    finally:
        pool.close()


def test_an_exception_mid_transaction_leaves_no_tenant_behind(
    database: DatabaseUnderTest, new_tenant: Callable[[], UUID]
) -> None:
    a = new_tenant()
    pool = create_pool(database.runtime_url, min_size=1, max_size=1)
    try:
        with pytest.raises(RuntimeError), tenant_connection(pool, a) as conn:
            insert_turn(conn, a)
            raise RuntimeError("boom")
        with pool.connection() as conn:
            setting = conn.execute(
                "SELECT current_setting('app.current_tenant', true) AS s"
            ).fetchone()
            assert setting is not None and setting["s"] in ("", None)
            assert count_visible(conn) == 0
        with tenant_connection(pool, a) as conn:
            assert count_visible(conn) == 0, "the failed transaction's insert rolled back"
        with pytest.raises(errors.UniqueViolation), tenant_connection(pool, a) as conn:
            row_id, agent = uuid.uuid4(), uuid.uuid4()
            for _ in range(2):  # a database error mid-transaction, not just a Python one
                insert_turn(conn, a, row_id=row_id, agent_id=agent)
        with pool.connection() as conn:
            assert count_visible(conn) == 0
    finally:
        pool.close()


def test_staged_batches_never_carry_rows_into_another_tenant(
    database: DatabaseUnderTest, new_tenant: Callable[[], UUID]
) -> None:
    """remember stages batches in a per-connection temporary table: it must be empty for the
    next borrower, whether the last batch committed or failed half-way."""
    a, b = new_tenant(), new_tenant()
    agent = uuid.uuid4()

    def batch(n: int) -> list[tuple[UUID, Turn]]:
        turn = Turn(agent_id=agent, user_id="U1", role="user", content="hi")
        return [(uuid.uuid4(), turn) for _ in range(n)]

    pool = create_pool(database.runtime_url, min_size=1, max_size=1)
    try:
        with tenant_transaction(pool, a) as tx:
            assert len(store.insert_turns(tx, "test", batch(3), np.array([vector()] * 3))) == 3
        with pytest.raises(RuntimeError), tenant_connection(pool, a) as conn:
            conn.execute(store._STAGING.create)
            conn.execute("INSERT INTO konstruct_staging (ord, id) VALUES (0, gen_random_uuid())")
            raise RuntimeError("failed after staging")
        with tenant_transaction(pool, b) as tx:
            staged = tx.conn.execute("SELECT count(*) AS n FROM konstruct_staging").fetchone()
            assert staged is not None and staged["n"] == 0
            mine = batch(2)
            inserted = store.insert_turns(tx, "test", mine, np.array([vector()] * 2))
            assert inserted == {(i, agent, "U1") for i, _ in mine}
            assert count_visible(tx.conn) == 2
    finally:
        pool.close()
