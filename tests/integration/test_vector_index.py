"""Dropping and rebuilding the HNSW index around bulk loads, on a database of its own."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from konstruct_memory.cli import app
from konstruct_memory.config import Settings
from konstruct_memory.db import migrate
from konstruct_memory.errors import InvalidInput
from konstruct_memory.library import Memory
from konstruct_memory.store import maintenance, vector_index
from tests.conftest import DatabaseUnderTest
from tests.fakes import BagOfWordsEmbedder
from tests.rows import vector

AGENT = uuid.UUID("66666666-6666-4666-8666-666666666666")
INDEX_DEFINITION = "SELECT pg_get_indexdef(%s::regclass)"


@pytest.fixture(scope="module")
def own_database(new_database: Callable[[], DatabaseUnderTest]) -> DatabaseUnderTest:
    db = new_database()
    migrate.upgrade(db.admin_url)
    return db


@pytest.fixture(scope="module")
def own_memory(own_database: DatabaseUnderTest) -> Iterator[Memory]:
    settings = Settings(
        database_url=own_database.runtime_url, admin_database_url=own_database.admin_url
    )
    with Memory.open(settings, embedder=BagOfWordsEmbedder()) as memory:
        yield memory


def definition(db: DatabaseUnderTest, index: vector_index.Index = vector_index.TURNS) -> str | None:
    with psycopg.connect(db.admin_url) as conn:
        if vector_index.state(conn, index) is vector_index.State.MISSING:
            return None
        row = conn.execute(INDEX_DEFINITION, [index.name]).fetchone()
    return None if row is None else str(row[0])


def test_rebuild_gives_back_exactly_the_indexes_migrations_011_and_013_made(
    own_database: DatabaseUnderTest, own_memory: Memory
) -> None:
    migrated = [definition(own_database, index) for index in vector_index.INDEXES]
    assert all(made is not None and "hnsw" in made for made in migrated)
    assert "turn_windows" in str(migrated[1])
    own_memory.drop_vector_index()
    with psycopg.connect(own_database.admin_url) as conn:
        for index in vector_index.INDEXES:
            assert vector_index.state(conn, index) is vector_index.State.MISSING, index
    assert own_memory.vector_index_state() is vector_index.State.MISSING
    assert own_memory.build_vector_index("64MB") is vector_index.State.READY
    assert [definition(own_database, index) for index in vector_index.INDEXES] == migrated


def test_the_state_is_the_worst_of_the_two(
    own_database: DatabaseUnderTest, own_memory: Memory
) -> None:
    with psycopg.connect(own_database.admin_url, autocommit=True) as conn:
        conn.execute(f"DROP INDEX {vector_index.WINDOWS.name}")
        assert vector_index.state(conn, vector_index.TURNS) is vector_index.State.READY
        assert vector_index.state(conn) is vector_index.State.MISSING
    assert own_memory.build_vector_index("64MB") is vector_index.State.READY
    assert definition(own_database, vector_index.WINDOWS) is not None


def test_an_older_graph_is_rebuilt_beside_and_replaced(
    own_database: DatabaseUnderTest, own_memory: Memory
) -> None:
    migrated = definition(own_database)
    with psycopg.connect(own_database.admin_url, autocommit=True) as conn:
        conn.execute(f"DROP INDEX {vector_index.NAME}")
        conn.execute(
            f"CREATE INDEX {vector_index.NAME} ON conversation_embeddings "
            "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
        )
        assert vector_index.graph(conn) == (16, 64)
    assert own_memory.build_vector_index("64MB") is vector_index.State.READY  # kept as it is
    with psycopg.connect(own_database.admin_url, autocommit=True) as conn:
        assert vector_index.graph(conn) == (16, 64)
    assert own_memory.build_vector_index("64MB", rebuild=True) is vector_index.State.READY
    with psycopg.connect(own_database.admin_url, autocommit=True) as conn:
        assert vector_index.graph(conn) == (vector_index.M, vector_index.EF_CONSTRUCTION)
        leftovers = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relname LIKE 'ix_conv_embed_hnsw%%'"
        ).fetchone()
    assert leftovers == (1,) and definition(own_database) == migrated


def last_analyzed(db: DatabaseUnderTest) -> dict[str, object]:
    with psycopg.connect(db.admin_url) as conn:
        rows = conn.execute(
            "SELECT relname, last_analyze FROM pg_stat_user_tables WHERE relname = ANY(%s)",
            [list(maintenance.LOADED_TABLES)],
        ).fetchall()
    return dict(rows)


def test_recall_across_users_stays_complete_while_the_index_is_missing(
    own_database: DatabaseUnderTest, own_memory: Memory
) -> None:
    tenant = own_memory.tenant(own_memory.create_tenant("bulk").id)
    turns = [
        {
            "agent_id": AGENT,
            "user_id": f"U{i % 7}",
            "role": "user",
            "content": f"note number {i} about the garden",
            "embedding": vector(i),
        }
        for i in range(300)
    ]
    with own_memory.vector_index_deferred("64MB"):
        assert own_memory.vector_index_state() is vector_index.State.MISSING
        tenant.remember(turns[:150])
        tenant.remember(turns[150:])
        during = tenant.recall_across_users(AGENT, "garden", k=25)
        analysed_before = last_analyzed(own_database)
    assert own_memory.vector_index_state() is vector_index.State.READY
    analysed_after = last_analyzed(own_database)
    assert set(analysed_after) == set(maintenance.LOADED_TABLES)
    for table, at in analysed_after.items():  # the load's rows have statistics at once
        assert at is not None and at != analysed_before[table], table
    after = tenant.recall_across_users(AGENT, "garden", k=25)
    assert len(during) == len(after) == 25
    assert len(tenant.history(AGENT, "U3", limit=1000)) == len(turns[3::7])


def test_a_failed_load_still_rebuilds_the_index(own_memory: Memory) -> None:
    with pytest.raises(RuntimeError), own_memory.vector_index_deferred("64MB"):
        raise RuntimeError("load failed")
    assert own_memory.vector_index_state() is vector_index.State.READY


def test_a_bad_memory_size_names_the_setting(own_memory: Memory) -> None:
    own_memory.drop_vector_index()
    with pytest.raises(InvalidInput, match="maintenance_work_mem"):
        own_memory.build_vector_index("lots")
    assert own_memory.vector_index_state() is vector_index.State.MISSING, "nothing was dropped"
    assert own_memory.build_vector_index("64MB") is vector_index.State.READY


def test_cli_status_build_and_deferred_import(
    own_database: DatabaseUnderTest,
    own_memory: Memory,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("KONSTRUCT_MEMORY_DATABASE_URL", own_database.runtime_url)
    monkeypatch.setenv("KONSTRUCT_MEMORY_ADMIN_DATABASE_URL", own_database.admin_url)
    cli = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = cli.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    status = run("vector-index", "status")
    for index in vector_index.INDEXES:
        assert f"{index.name} ({index.table}): ready (m = 32, ef_construction = 128)" in status
    assert "dropped" in run("vector-index", "drop")
    assert run("vector-index", "status", code=3).count(": missing") == 2
    built = run("vector-index", "build", "--maintenance-work-mem", "64MB")
    assert built.count(": ready") == 2

    tenant = own_memory.create_tenant("cli-bulk").id
    path = tmp_path / "turns.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "agent_id": str(AGENT),
                    "user_id": "U1",
                    "role": "user",
                    "content": f"line {i}",
                    "embedding": vector(i).tolist(),
                }
            )
            + "\n"
            for i in range(40)
        )
    )
    out = run("import", str(path), "--tenant", str(tenant), "--defer-vector-index")
    assert "40 turns sent" in out
    assert own_memory.vector_index_state() is vector_index.State.READY
    assert len(own_memory.tenant(tenant).history(AGENT, "U1", limit=100)) == 40
    refused = run("import", str(path), "--api-key", "km_x", "--defer-vector-index", code=1)
    assert "needs --tenant" in refused
