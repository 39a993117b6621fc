"""VACUUM of the tables erasure and retention remove rows from, and what an operator sees of
it: their live and dead tuples and last vacuums (``pg_stat_user_tables``), and a VACUUM in
progress (``pg_stat_progress_vacuum``); the ANALYZE that follows a bulk load. Owner
connection, outside any transaction.

The statistics are PostgreSQL's cumulative ones: a session's deletions reach them when it
reports (at the end of its transaction, at most about once a second, or when it goes idle),
and a VACUUM sets the dead count to what it could not remove. ``pg_stat_progress_vacuum``
shows another role's VACUUM (autovacuum's) in detail only to members of
``pg_read_all_stats``; the service's own runs as the owner role, so the owner sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from konstruct_memory.db.vacuum import VacuumThrottle

# The tables erasure and retention remove rows from (their HNSW and GIN indexes included), and
# the scope summaries and keyword postings their triggers update or remove.
VACUUMED_TABLES = (
    "conversation_embeddings",
    "turn_windows",
    "turn_vectors",
    "read_audit",
    "erased_turns",
    "scope_summaries",
    "keyword_postings",
)
_VACUUM = sql.SQL("VACUUM {}").format(sql.SQL(", ").join(map(sql.Identifier, VACUUMED_TABLES)))
# The tables a bulk load fills (the turns and what their triggers and vectors add).
LOADED_TABLES = (
    "conversation_embeddings",
    "turn_windows",
    "turn_vectors",
    "scope_summaries",
    "keyword_postings",
)
_ANALYZE = sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(map(sql.Identifier, LOADED_TABLES)))
# set_config rather than SET: SET takes no bound parameters. Not local: VACUUM runs outside a
# transaction, and the connection is the VACUUM's own.
_THROTTLE = """
SELECT set_config('vacuum_cost_delay', %(cost_delay_ms)s, false),
       set_config('vacuum_cost_limit', %(cost_limit)s, false)
"""
_TABLES = """
SELECT s.relname AS table_name, s.n_live_tup AS live_tuples, s.n_dead_tup AS dead_tuples,
       s.last_vacuum, s.last_autovacuum
FROM pg_stat_user_tables s
JOIN unnest(%(tables)s::text[]) WITH ORDINALITY AS wanted(name, position)
  ON s.relid = to_regclass(wanted.name)
ORDER BY wanted.position
"""
_IN_PROGRESS = """
SELECT p.pid, c.relname AS table_name, p.phase, p.heap_blks_scanned AS heap_blocks_scanned,
       p.heap_blks_total AS heap_blocks_total, p.index_vacuum_count AS index_passes,
       extract(epoch FROM now() - a.query_start)::float8 AS running_s
FROM pg_stat_progress_vacuum p
JOIN pg_class c ON c.oid = p.relid
LEFT JOIN pg_stat_activity a ON a.pid = p.pid
WHERE p.datname = current_database() AND c.relname = ANY(%(tables)s)
  AND c.relnamespace = to_regnamespace(current_schema())
ORDER BY p.pid
"""


@dataclass(frozen=True)
class TableVacuumState:
    table_name: str
    live_tuples: int
    dead_tuples: int
    last_vacuum: datetime | None
    last_autovacuum: datetime | None


@dataclass(frozen=True)
class VacuumInProgress:
    pid: int
    table_name: str
    phase: str
    heap_blocks_scanned: int
    heap_blocks_total: int
    index_passes: int
    running_s: float | None


def vacuum(conn: psycopg.Connection[Any], throttle: VacuumThrottle) -> None:
    """VACUUM what erasure and retention remove rows from, throttled on this session (owner
    connection, in autocommit: VACUUM cannot run inside a transaction)."""
    conn.execute(
        _THROTTLE,
        {"cost_delay_ms": f"{throttle.cost_delay_ms:g}", "cost_limit": str(throttle.cost_limit)},
    )
    conn.execute(_VACUUM)


def analyze(conn: psycopg.Connection[Any]) -> None:
    """Fresh planner statistics after a bulk load, rather than in the minute or more before
    autovacuum notices it: until then the planner guesses the new rows' selectivity and can
    walk a whole scope where it should read a few rows by key (owner connection)."""
    conn.execute(_ANALYZE)


def table_states(conn: psycopg.Connection[Any]) -> list[TableVacuumState]:
    """Tuples and last vacuums of the vacuumed tables, in ``VACUUMED_TABLES`` order."""
    with conn.cursor(row_factory=class_row(TableVacuumState)) as cur:
        return cur.execute(_TABLES, {"tables": list(VACUUMED_TABLES)}).fetchall()


def in_progress(conn: psycopg.Connection[Any]) -> list[VacuumInProgress]:
    """The VACUUMs of those tables running now that this role may see."""
    with conn.cursor(row_factory=class_row(VacuumInProgress)) as cur:
        return cur.execute(_IN_PROGRESS, {"tables": list(VACUUMED_TABLES)}).fetchall()
