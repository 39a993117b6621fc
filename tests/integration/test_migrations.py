"""Migrations against a real server: 002 is faithful to the seed, 003 fixes what was measured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import errors

from konstruct_memory.db import migrate
from konstruct_memory.errors import SchemaOutOfDate
from tests.conftest import DatabaseUnderTest
from tests.rows import vector

TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"


def _query(url: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def _indexdefs(url: str) -> dict[str, str]:
    rows = _query(
        url,
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'conversation_embeddings'",
    )
    return {name: definition for name, definition in rows}


def _policy(url: str) -> tuple[str, str | None]:
    [(qual, check)] = _query(
        url, "SELECT qual, with_check FROM pg_policies WHERE tablename = 'conversation_embeddings'"
    )
    return qual, check


def test_upgrade_downgrade_upgrade(new_database: Callable[[], DatabaseUnderTest]) -> None:
    db = new_database()
    migrate.upgrade(db.admin_url)
    assert migrate.current_revision(db.admin_url) == migrate.head_revision()
    migrate.upgrade(db.admin_url)  # idempotent
    migrate.downgrade(db.admin_url, "base")
    assert [t for (t,) in _query(db.admin_url, TABLES)] == ["alembic_version"]
    migrate.upgrade(db.admin_url)
    assert {t for (t,) in _query(db.admin_url, TABLES)} >= {"tenants", "conversation_embeddings"}


def test_revision_002_is_the_seed(new_database: Callable[[], DatabaseUnderTest]) -> None:
    db = new_database()
    migrate.upgrade(db.admin_url, "002")
    columns = _query(
        db.admin_url,
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), col_description(a.attrelid, a.attnum)
        FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = 'conversation_embeddings'::regclass AND a.attnum > 0
        ORDER BY a.attnum""",
    )
    assert columns == [
        ("id", "uuid", True, "gen_random_uuid()", None),
        ("tenant_id", "uuid", True, None, None),
        ("agent_id", "uuid", True, None, None),
        (
            "user_id",
            "text",
            True,
            None,
            "Channel-native user identifier (e.g. Slack user ID U12345)",
        ),
        ("content", "text", True, None, "Original message text that was embedded"),
        ("role", "text", True, None, "Message role: 'user' or 'assistant'"),
        ("created_at", "timestamp with time zone", True, "now()", None),
        ("embedding", "vector(384)", True, None, None),
    ]
    [(fk,)] = _query(
        db.admin_url,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'conversation_embeddings'::regclass "
        "AND contype = 'f'",
    )
    assert fk == "FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE"
    indexes = _indexdefs(db.admin_url)
    assert indexes["ix_conv_embed_tenant_agent_user_time"].endswith(
        "USING btree (tenant_id, agent_id, user_id, created_at DESC)"
    )
    assert indexes["ix_conv_embed_hnsw"].endswith(
        "USING hnsw (embedding vector_cosine_ops) WITH (m='16', ef_construction='64')"
    )
    assert "(id)" in indexes["conversation_embeddings_pkey"]
    assert _query(
        db.admin_url,
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
        "WHERE relname = 'conversation_embeddings'",
    ) == [(True, True)]
    assert _policy(db.admin_url) == (
        "(tenant_id = (current_setting('app.current_tenant'::text, true))::uuid)",
        None,
    )
    grants = _query(
        db.admin_url,
        "SELECT privilege_type FROM information_schema.role_table_grants "
        "WHERE table_name = 'conversation_embeddings' "
        "AND grantee = 'konstruct_app' ORDER BY 1",
    )
    assert grants == [("INSERT",), ("SELECT",)]
    migrate.downgrade(db.admin_url, "001")
    assert [t for (t,) in _query(db.admin_url, TABLES)] == ["alembic_version", "tenants"]


def test_the_seed_policy_fails_on_a_reused_connection_and_003_fixes_it(
    new_database: Callable[[], DatabaseUnderTest],
) -> None:
    """DESIGN.md fact 1, kept as a regression test: '' cast to uuid raises 22P02 under 002."""
    db = new_database()
    migrate.upgrade(db.admin_url, "002")
    with psycopg.connect(db.runtime_url, autocommit=True) as conn:
        with conn.transaction():
            conn.execute("SELECT set_config('app.current_tenant', gen_random_uuid()::text, true)")
        with pytest.raises(errors.InvalidTextRepresentation):
            conn.execute("SELECT count(*) FROM conversation_embeddings")
        migrate.upgrade(db.admin_url)
        assert conn.execute("SELECT count(*) FROM conversation_embeddings").fetchone() == (0,)


def test_003_keeps_rows_stored_under_002(new_database: Callable[[], DatabaseUnderTest]) -> None:
    db = new_database()
    migrate.upgrade(db.admin_url, "002")
    with psycopg.connect(db.superuser_url, autocommit=True) as conn:
        [(tenant,)] = conn.execute("INSERT INTO tenants (name) VALUES ('old') RETURNING id")
        for text in ("first", "second"):
            conn.execute(
                "INSERT INTO conversation_embeddings (tenant_id, agent_id, user_id, content, role,"
                " embedding) VALUES (%s, gen_random_uuid(), 'U1', %s, 'user', %s::vector)",
                [tenant, text, str(vector(1).tolist())],
            )
    migrate.upgrade(db.admin_url)
    rows = _query(
        db.superuser_url,
        "SELECT content, occurred_at = created_at, seq, "
        "embedding_model, conversation_id "
        "FROM conversation_embeddings ORDER BY seq",
    )
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [
        ("first", True, "sentence-transformers/all-MiniLM-L6-v2", None),
        ("second", True, "sentence-transformers/all-MiniLM-L6-v2", None),
    ]
    assert rows[0][2] < rows[1][2]


def test_003_schema(database: DatabaseUnderTest) -> None:
    qual, check = _policy(database.admin_url)
    expected = (
        "(tenant_id = (NULLIF(current_setting('app.current_tenant'::text, true), ''::text))::uuid)"
    )
    assert qual == expected and check == expected
    [(pk,)] = _query(
        database.admin_url,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conname = 'conversation_embeddings_pkey'",
    )
    # 003's (tenant_id, id), widened by 012: an id names one turn per (agent, user).
    assert pk == "PRIMARY KEY (tenant_id, id, agent_id, user_id)"
    [(role_check,)] = _query(
        database.admin_url,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conname = 'conversation_embeddings_role_check'",
    )
    assert "'user'" in role_check and "'assistant'" in role_check
    assert _indexdefs(database.admin_url)["ix_conv_embed_scope_order"].endswith(
        "(tenant_id, agent_id, user_id, occurred_at DESC, seq DESC)"
    )


def test_batched_turns_keep_their_order(database: DatabaseUnderTest) -> None:
    """DESIGN.md fact 5: one transaction shares created_at; occurred_at and seq still order."""
    with psycopg.connect(database.superuser_url) as conn:
        [(tenant,)] = conn.execute("INSERT INTO tenants (name) VALUES ('order') RETURNING id")
        for i in range(5):
            conn.execute(
                "INSERT INTO conversation_embeddings (tenant_id, agent_id, user_id, content, role,"
                " embedding, embedding_model) VALUES (%s, '00000000-0000-0000-0000-000000000001',"
                " 'U1', %s, 'user', %s::vector, 'm')",
                [tenant, f"turn {i}", str(vector(i).tolist())],
            )
        rows = conn.execute(
            "SELECT content, created_at FROM conversation_embeddings "
            "WHERE tenant_id = %s ORDER BY occurred_at, seq",
            [tenant],
        ).fetchall()
        conn.rollback()
    assert [r[0] for r in rows] == [f"turn {i}" for i in range(5)]
    assert len({r[1] for r in rows}) == 1


def test_role_is_constrained(database: DatabaseUnderTest) -> None:
    with psycopg.connect(database.superuser_url) as conn, pytest.raises(errors.CheckViolation):
        [(tenant,)] = conn.execute("INSERT INTO tenants (name) VALUES ('r') RETURNING id")
        conn.execute(
            "INSERT INTO conversation_embeddings (tenant_id, agent_id, user_id, content, role,"
            " embedding, embedding_model) VALUES (%s, gen_random_uuid(), 'U1', 'x', 'system',"
            " %s::vector, 'm')",
            [tenant, str(vector(1).tolist())],
        )


def test_require_head_refuses_a_schema_behind_the_code(
    new_database: Callable[[], DatabaseUnderTest],
) -> None:
    db = new_database()
    migrate.upgrade(db.admin_url, "002")
    with pytest.raises(SchemaOutOfDate, match="konstruct-memory migrate"):
        migrate.require_head(db.runtime_url)


def test_processes_migrating_at_once_do_not_collide(
    new_database: Callable[[], DatabaseUnderTest],
) -> None:
    import threading

    db = new_database()
    errors_seen: list[BaseException] = []

    def upgrade() -> None:
        try:
            migrate.upgrade(db.admin_url)
        except BaseException as exc:
            errors_seen.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors_seen == []
    assert migrate.current_revision(db.admin_url) == migrate.head_revision()


def test_downgrade_below_003_refuses_ids_shared_by_tenants(
    new_database: Callable[[], DatabaseUnderTest],
) -> None:
    db = new_database()
    migrate.upgrade(db.admin_url)
    with psycopg.connect(db.superuser_url, autocommit=True) as conn:
        for name in ("a", "b"):
            [(tenant,)] = conn.execute(
                "INSERT INTO tenants (name) VALUES (%s) RETURNING id", [name]
            )
            conn.execute(
                "INSERT INTO conversation_embeddings (id, tenant_id, agent_id, user_id, content,"
                " role, embedding, embedding_model) VALUES ('00000000-0000-4000-8000-000000000001',"
                " %s, gen_random_uuid(), 'U1', 'x', 'user', %s::vector, 'm')",
                [tenant, str(vector(2).tolist())],
            )
    with pytest.raises(Exception, match="used by more than one tenant"):
        migrate.downgrade(db.admin_url, "002")
    assert migrate.current_revision(db.admin_url) == migrate.head_revision()
    assert _query(db.superuser_url, "SELECT count(*) FROM conversation_embeddings") == [(2,)]


def test_012_keeps_turns_tombstones_and_ledger_stored_under_011(
    new_database: Callable[[], DatabaseUnderTest],
) -> None:
    db = new_database()
    migrate.upgrade(db.admin_url, "011")
    turn, erased = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
    agent = "00000000-0000-4000-8000-00000000000a"
    with psycopg.connect(db.superuser_url, autocommit=True) as conn:
        [(tenant,)] = conn.execute("INSERT INTO tenants (name) VALUES ('old') RETURNING id")
        conn.execute(
            "INSERT INTO conversation_embeddings (id, tenant_id, agent_id, user_id, content, role,"
            " embedding, embedding_model) VALUES (%s, %s, %s, 'U1', 'kept', 'user', %s::vector,"
            " 'm')",
            [turn, tenant, agent, str(vector(3).tolist())],
        )
        conn.execute(
            "INSERT INTO erasures (id, tenant_id, kind, subject_hash, cutoff, turns_erased,"
            " audit_rows_erased, requested_at) VALUES (gen_random_uuid(), %s, 'user', %s, NULL,"
            " 1, 0, now()), (gen_random_uuid(), %s, 'retention', NULL, now(), 1, 0, now())",
            [tenant, b"h" * 32, tenant],
        )
        conn.execute(
            "INSERT INTO erased_turns (tenant_id, turn_id, erasure_id) VALUES (%s, %s, %s)",
            [tenant, erased, turn],
        )
    migrate.upgrade(db.admin_url)
    assert _query(
        db.superuser_url, "SELECT id::text, agent_id::text, user_id FROM conversation_embeddings"
    ) == [(turn, agent, "U1")]
    assert _query(
        db.superuser_url, "SELECT turn_id::text, agent_id, user_id FROM erased_turns"
    ) == [(erased, None, None)]
    assert sorted(
        _query(db.superuser_url, "SELECT kind, subject_hash_version FROM erasures"), key=str
    ) == [("retention", None), ("user", 1)]
    # An id is unique per (agent, user) now; the same id and scope still collides.
    with psycopg.connect(db.superuser_url, autocommit=True) as conn:
        insert = (
            "INSERT INTO conversation_embeddings (id, tenant_id, agent_id, user_id, content, role,"
            " embedding, embedding_model) VALUES (%s, %s, %s, %s, 'x', 'user', %s::vector, 'm')"
        )
        conn.execute(insert, [turn, tenant, agent, "U2", str(vector(4).tolist())])
        with pytest.raises(errors.UniqueViolation):
            conn.execute(insert, [turn, tenant, agent, "U1", str(vector(4).tolist())])
    with pytest.raises(Exception, match="more than one agent or user"):
        migrate.downgrade(db.admin_url, "011")
    assert migrate.current_revision(db.admin_url) == migrate.head_revision()
