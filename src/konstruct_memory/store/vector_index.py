"""The HNSW indexes, over all turns and over the window vectors of long turns: their state and
graph, dropping and rebuilding them around bulk loads, and rebuilding them with another graph.

Inserting into HNSW costs a graph search per row, and the cost grows with the graph: with the
index in place a bulk load runs at a few hundred rows per second, while building the index
once over the loaded rows is an order of magnitude faster (``BENCHMARKS.md``). Recall reads
this index only for scopes over ``search.EXACT_SCOPE_ROWS`` turns (a heavy user, or an agent
across users); smaller scopes are searched exactly, and while the index is missing every
recall is exact: correct, only slower.

The graph is m = 32, ef_construction = 128 (migration 011): on heavy scopes it found 0.98 of
the exact top 10 where m = 16, ef_construction = 64 found 0.92, at the price of slower inserts
(BENCHMARKS.md, "Heavy scopes"). ``build(rebuild=True)`` moves an older index to it.

Operations run on the owner connection, outside any transaction: DROP / CREATE INDEX
CONCURRENTLY let every tenant keep reading and writing while they run.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from konstruct_memory.errors import InvalidInput

M, EF_CONSTRUCTION = 32, 128


@dataclass(frozen=True)
class Index:
    name: str
    table: str

    @property
    def next_name(self) -> str:
        """A rebuild's new index, until it replaces the old one."""
        return f"{self.name}_next"


# As migrations 011 and 013 create them; tests/integration/test_vector_index.py checks that a
# rebuild gives back exactly those.
TURNS = Index("ix_conv_embed_hnsw", "conversation_embeddings")
WINDOWS = Index("ix_turn_windows_hnsw", "turn_windows")
INDEXES = (TURNS, WINDOWS)
NAME = TURNS.name
_CREATE = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} "
    "USING hnsw (embedding vector_cosine_ops) WITH (m = {m}, ef_construction = {ef})"
)
_DROP = "DROP INDEX CONCURRENTLY IF EXISTS {name}"
_STATE = """
SELECT i.indisvalid AS valid, c.reloptions AS options
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relname = %(name)s AND c.relnamespace = current_schema()::regnamespace
"""


class State(enum.StrEnum):
    READY = "ready"
    MISSING = "missing"  # dropped for a bulk load, or the load stopped before the rebuild
    INVALID = "invalid"  # a concurrent build is running, or one failed part-way


def state(conn: psycopg.Connection[Any], index: Index | None = None) -> State:
    """One index's state, or (None) the worst of all: what recall may count on."""
    if index is None:
        states = [state(conn, each) for each in INDEXES]
        for worst in (State.MISSING, State.INVALID):
            if worst in states:
                return worst
        return State.READY
    return _state_of(conn, index.name)


def _state_of(conn: psycopg.Connection[Any], name: str) -> State:
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(_STATE, {"name": name}).fetchone()
    if row is None:
        return State.MISSING
    return State.READY if row[0] else State.INVALID


def graph(conn: psycopg.Connection[Any], index: Index = TURNS) -> tuple[int, int] | None:
    """The index's (m, ef_construction), or None if it is missing."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(_STATE, {"name": index.name}).fetchone()
    if row is None:
        return None
    options = dict(option.split("=", 1) for option in row[1] or [])
    return int(options.get("m", 16)), int(options.get("ef_construction", 64))


def drop(conn: psycopg.Connection[Any]) -> None:
    """Drop the indexes (waits for queries using them to finish). Needs an autocommit
    connection."""
    for index in INDEXES:
        conn.execute(_DROP.format(name=index.name))


def build(
    conn: psycopg.Connection[Any], maintenance_work_mem: str = "2GB", *, rebuild: bool = False
) -> State:
    """Build each index that is not ready, without blocking writes; returns the final state
    (the worst of the two). With ``rebuild``, an index whose graph is not this release's
    (m, ef_construction) is replaced: the new one is built beside it and takes its name once
    ready, so recall keeps an index throughout (the disk and build memory of two meanwhile).

    The graph is built in memory when it fits in ``maintenance_work_mem`` (about 2 GB per
    million turns); past that pgvector goes on more slowly on disk. A left-over invalid index
    from a failed build is dropped first.
    """
    try:
        conn.execute("SELECT set_config('maintenance_work_mem', %s, false)", [maintenance_work_mem])
    except (psycopg.errors.InvalidParameterValue, psycopg.errors.InvalidTextRepresentation):
        raise InvalidInput("maintenance_work_mem", "must be a size such as 512MB or 4GB") from None
    try:
        for index in INDEXES:
            _build(conn, index, rebuild)
    finally:
        conn.execute("RESET maintenance_work_mem")
    return state(conn)


def _build(conn: psycopg.Connection[Any], index: Index, rebuild: bool) -> None:
    current = state(conn, index)
    if current is State.READY and not (rebuild and graph(conn, index) != (M, EF_CONSTRUCTION)):
        return
    name = index.next_name if current is State.READY else index.name
    conn.execute(_DROP.format(name=name))
    conn.execute(_CREATE.format(name=name, table=index.table, m=M, ef=EF_CONSTRUCTION))
    if name == index.next_name and _state_of(conn, name) is State.READY:
        conn.execute(_DROP.format(name=index.name))
        conn.execute(f"ALTER INDEX {name} RENAME TO {index.name}")
