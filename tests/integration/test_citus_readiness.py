"""Citus readiness, checked here without Citus (docs/citus.md): every statement the service
runs on a table to be distributed by tenant names the tenant, as the plans show; the removal
functions do too; primary keys and unique constraints include tenant_id; policies have no
sub-queries; and the SET LOCAL tenant switch that Citus propagates works end to end."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import psycopg
import pytest
from pgvector.psycopg import register_vector
from psycopg import sql

from konstruct_memory.db import tenant as tenant_module
from konstruct_memory.db.tenant import use_tenant_switch
from konstruct_memory.errors import Conflict
from konstruct_memory.library import Memory
from konstruct_memory.store import search, turns, windows
from tests.conftest import DatabaseUnderTest, settings_over
from tests.fakes import BagOfWordsEmbedder, ParagraphWindowsEmbedder

# Distributed by tenant_id; tenants, api_keys and alembic_version are reference tables.
DISTRIBUTED = (
    "conversation_embeddings",
    "turn_windows",
    "erasures",
    "erased_turns",
    "read_audit",
    "scope_summaries",
    "rate_buckets",
    "keyword_postings",
)
FUNCTION = re.compile(r"konstruct_\w+\(")
NAMES_A_TENANT = re.compile(r"tenant_id = '[0-9a-f-]{36}'::uuid")
AGENT = uuid.uuid4()


class RecordingCursor(psycopg.Cursor[Any]):
    statements: ClassVar[list[tuple[Any, Any]]] = []

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        RecordingCursor.statements.append((query, params))
        return super().execute(query, params, **kwargs)


@pytest.fixture
def recording(database: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Memory]:
    """A Memory whose pooled connections record every statement they run."""
    configure = tenant_module._configure

    def recorded(conn: psycopg.Connection[Any]) -> None:
        configure(conn)
        conn.cursor_factory = RecordingCursor

    monkeypatch.setattr(tenant_module, "_configure", recorded)
    # Large-scope statements too: the HNSW search and its settings.
    monkeypatch.setattr(search, "EXACT_SCOPE_ROWS", 3)
    RecordingCursor.statements = []
    settings = settings_over(database)
    # Turns of two paragraphs are long turns for this embedder: their windows are stored and
    # searched (through HNSW too, with the scope bound lowered above).
    with Memory.open(settings, embedder=ParagraphWindowsEmbedder()) as memory:
        yield memory


def run_every_operation(memory: Memory) -> None:
    created = memory.create_tenant("citus")
    memory.update_tenant(created.id, audit_reads=True, retention_days=1)
    tenant = memory.tenant(created.id)
    chosen = uuid.uuid4()
    stored = tenant.remember(
        [
            {"id": chosen, "agent_id": AGENT, "user_id": "U1", "role": "user", "content": "hi"},
            *[
                {
                    "agent_id": AGENT,
                    "user_id": f"U{i % 2}",
                    "role": "user",
                    "content": f"dog {i}\n\ncat",
                }
                for i in range(6)
            ],
            {
                "agent_id": AGENT,
                "user_id": "U1",
                "role": "user",
                "content": "old",
                "occurred_at": "2020-01-01T00:00:00Z",
            },
        ]
    )
    tenant.remember([{"id": chosen, "agent_id": AGENT, "user_id": "U1", "role": "user",
                      "content": "hi"}])  # fmt: skip
    tenant.recall(AGENT, "U1", "dog", k=3)
    tenant.recall_across_users(AGENT, "dog", k=3)
    tenant.history(AGENT, "U1", limit=2, before=stored[-2].id)
    tenant.context(AGENT, "U1", "dog", recent=2, k=2)
    tenant.get_turn(stored[1].id)
    tenant.list_scopes(AGENT)
    tenant.list_audit()
    tenant.erase(turn_ids=[stored[1].id])
    tenant.erase(agent_id=AGENT, user_id="U0")
    with pytest.raises(Conflict):
        tenant.remember([{"id": stored[1].id, "agent_id": AGENT, "user_id": "U0",
                          "role": "user", "content": "dog 0\n\ncat"}])  # fmt: skip
    tenant.list_erasures()
    memory.apply_retention()


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def test_every_statement_on_a_distributed_table_names_the_tenant(
    recording: Memory, database: DatabaseUnderTest
) -> None:
    run_every_operation(recording)
    checked: set[str] = set()
    with psycopg.connect(database.runtime_url) as conn:
        register_vector(conn)
        conn.execute(turns._STAGING.create)  # the batch inserts read the session's staging tables
        conn.execute(windows._STAGING.create)
        for query, params in RecordingCursor.statements:
            text = query.as_string(conn) if isinstance(query, sql.Composable) else str(query)
            if not any(table in text for table in DISTRIBUTED) or FUNCTION.search(text):
                continue  # no distributed table, or a removal function (checked below)
            tenant_id = params.get("tenant_id") if isinstance(params, dict) else None
            assert tenant_id is not None, f"a statement without a tenant: {text}"
            with conn.transaction():
                conn.execute("SELECT set_config('app.current_tenant', %s, true)", [str(tenant_id)])
                [[plan]] = conn.execute("EXPLAIN (FORMAT JSON) " + text, params).fetchall()
            for node in plan_nodes(plan[0]["Plan"]):
                if node.get("Relation Name") not in DISTRIBUTED:
                    continue
                if node["Node Type"] == "ModifyTable":
                    assert re.search(r"\(\s*tenant_id", text), f"an insert without tenant: {text}"
                    continue
                conditions = json.dumps(
                    [node.get(k) for k in ("Index Cond", "Filter", "Recheck Cond")]
                    + [c.get("Index Cond") for c in node.get("Plans", [])]
                )
                assert NAMES_A_TENANT.search(conditions), (
                    f"{node['Node Type']} on {node['Relation Name']} without the tenant:\n{text}"
                )
            checked.add(" ".join(text.split()))
    reached = [
        "INSERT INTO conversation_embeddings",  # remember
        "WITH searched AS MATERIALIZED",  # keywords
        "ORDER BY embedding <=>",  # HNSW (large scopes)
        "ORDER BY distance, seq DESC",  # exact
        "CROSS JOIN LATERAL",  # neighbours
        "ORDER BY occurred_at DESC, seq DESC",  # history
        "FROM scope_summaries",  # scopes
        "FROM erased_turns",  # retries of erased turns
        "FROM erasures",  # the ledger
        "FROM read_audit",  # the audit trail
    ]
    for fragment in reached:  # the workload ran each kind of statement
        assert any(fragment in text for text in checked), fragment


def test_the_removal_functions_name_the_tenant_in_every_statement(
    database: DatabaseUnderTest,
) -> None:
    with psycopg.connect(database.admin_url) as conn:
        bodies = conn.execute(
            "SELECT proname, prosrc FROM pg_proc WHERE proname LIKE 'konstruct\\_%'"
        ).fetchall()
    tables = "|".join(DISTRIBUTED)
    for name, body in bodies:
        for statement in re.split(r";", body):
            if re.search(rf"\b(FROM|UPDATE)\s+public\.({tables})\b", statement):
                assert "tenant_id = v_tenant" in statement or "tenant_id = NULLIF" in statement, (
                    f"{name}: {statement.strip()}"
                )
            if re.search(rf"INSERT INTO public\.({tables})", statement):
                assert re.search(r"\(\s*(id, )?tenant_id", statement), f"{name}: {statement}"


def test_keys_include_tenant_id_and_policies_have_no_subqueries(
    database: DatabaseUnderTest,
) -> None:
    with psycopg.connect(database.admin_url) as conn:
        unique = conn.execute(
            """
            SELECT c.relname AS table_name, i.indexrelid::regclass::text AS index_name,
                   array_agg(a.attname::text) AS columns
            FROM pg_index i
            JOIN pg_class c ON c.oid = i.indrelid
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
            WHERE i.indisunique AND c.relname = ANY(%s)
            GROUP BY 1, 2
            """,
            [list(DISTRIBUTED)],
        ).fetchall()
        policies = conn.execute(
            "SELECT tablename, policyname, coalesce(qual, '') || coalesce(with_check, '') "
            "FROM pg_policies"
        ).fetchall()
    assert {row[0] for row in unique} == set(DISTRIBUTED)
    for table, index, columns in unique:
        assert "tenant_id" in columns, f"{table}.{index} is unique without tenant_id"
    for table, policy, expression in policies:
        assert "select" not in expression.lower(), f"{table}.{policy} has a sub-query"


def test_the_set_local_switch_confines_transactions_to_their_tenant(
    database: DatabaseUnderTest,
) -> None:
    settings = settings_over(database, tenant_switch="set_local")
    try:
        with Memory.open(settings, embedder=BagOfWordsEmbedder()) as memory:
            one = memory.tenant(memory.create_tenant("set-local-1").id)
            two = memory.tenant(memory.create_tenant("set-local-2").id)
            one.remember([{"agent_id": AGENT, "user_id": "U1", "role": "user", "content": "a"}])
            assert [t.content for t in one.history(AGENT, "U1")] == ["a"]
            assert two.history(AGENT, "U1") == []
            with memory.resources.pool.connection() as conn:
                leftover = conn.execute("SELECT current_setting('app.current_tenant', true) AS t")
                assert (leftover.fetchone() or {}).get("t") in (None, "")
    finally:
        use_tenant_switch("set_config")
    with (
        psycopg.connect(database.runtime_url) as conn,
        pytest.raises(psycopg.errors.InvalidTextRepresentation),
    ):
        conn.execute("SELECT konstruct_set_tenant('x''; RESET ALL; --')")
