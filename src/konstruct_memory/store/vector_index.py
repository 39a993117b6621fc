"""The HNSW index over all turns: its state, and dropping and rebuilding it around bulk loads.

Inserting into HNSW costs a graph search per row, and the cost grows with the graph: with the
index in place a bulk load runs at a few hundred rows per second, while building the index
once over the loaded rows is an order of magnitude faster (``BENCHMARKS.md``). Only recall
across users reads this index; recall within one user is an exact search that never needs it,
and while the index is missing, recall across users is exact too: correct, only slower.

Operations run on the owner connection, outside any transaction: DROP / CREATE INDEX
CONCURRENTLY let every tenant keep reading and writing while they run.
"""

from __future__ import annotations

import enum
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from konstruct_memory.errors import InvalidInput

NAME = "ix_conv_embed_hnsw"
# As migration 002 creates it; tests/test_vector_index.py checks the two stay identical.
_CREATE = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_conv_embed_hnsw ON conversation_embeddings "
    "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
)
_DROP = "DROP INDEX CONCURRENTLY IF EXISTS ix_conv_embed_hnsw"
_STATE = """
SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relname = %(name)s AND c.relnamespace = current_schema()::regnamespace
"""


class State(enum.StrEnum):
    READY = "ready"
    MISSING = "missing"  # dropped for a bulk load, or the load stopped before the rebuild
    INVALID = "invalid"  # a concurrent build is running, or one failed part-way


def state(conn: psycopg.Connection[Any]) -> State:
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(_STATE, {"name": NAME}).fetchone()
    if row is None:
        return State.MISSING
    return State.READY if row[0] else State.INVALID


def drop(conn: psycopg.Connection[Any]) -> None:
    """Drop the index (waits for queries using it to finish). Needs an autocommit connection."""
    conn.execute(_DROP)


def build(conn: psycopg.Connection[Any], maintenance_work_mem: str = "2GB") -> State:
    """Build the index if it is not ready, without blocking writes; returns the final state.

    The graph is built in memory when it fits in ``maintenance_work_mem`` (about 2 GB per
    million turns); past that pgvector goes on more slowly on disk. A left-over invalid index
    from a failed build is dropped first.
    """
    if state(conn) is State.READY:
        return State.READY
    try:
        conn.execute("SELECT set_config('maintenance_work_mem', %s, false)", [maintenance_work_mem])
    except (psycopg.errors.InvalidParameterValue, psycopg.errors.InvalidTextRepresentation):
        raise InvalidInput("maintenance_work_mem", "must be a size such as 512MB or 4GB") from None
    conn.execute(_DROP)
    try:
        conn.execute(_CREATE)
    finally:
        conn.execute("RESET maintenance_work_mem")
    return state(conn)
