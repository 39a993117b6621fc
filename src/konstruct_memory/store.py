"""All SQL about turns. Functions take a connection inside a tenant transaction and never commit.

Every query names ``tenant_id`` explicitly although row-level security filters by it too: the
planner can then use the scope index, and a distributed (Citus) deployment can route by it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb

from konstruct_memory.db import Connection
from konstruct_memory.embed import Vectors
from konstruct_memory.models import Role, ValidTurn

TURN_COLUMNS = sql.SQL(
    "id, agent_id, user_id, role, content, conversation_id, occurred_at, created_at, metadata, seq"
)

# Batches go in through COPY into a session-private staging table, then one INSERT ... SELECT:
# COPY cannot write to a table under row-level security, while INSERT re-checks every row
# against the tenant policy. ON COMMIT DELETE ROWS empties the staging table at the end of each
# transaction, so a pooled connection carries nothing from one tenant's batch into the next.
_STAGING = """
CREATE TEMPORARY TABLE IF NOT EXISTS konstruct_staging (
    ord int4, id uuid, agent_id uuid, user_id text, role text, content text,
    conversation_id text, occurred_at timestamptz, metadata jsonb, embedding vector
) ON COMMIT DELETE ROWS
"""
_STAGING_TYPES = [
    "int4", "uuid", "uuid", "text", "text", "text", "text", "timestamptz", "jsonb", "vector",
]  # fmt: skip
_COPY_TO_STAGING = "COPY konstruct_staging FROM STDIN (FORMAT BINARY)"
# Rows without occurred_at get clock_timestamp() in batch order; seq follows the same order.
_INSERT_STAGED = """
INSERT INTO conversation_embeddings
    (tenant_id, id, agent_id, user_id, role, content, conversation_id, occurred_at, metadata,
     embedding, embedding_model)
SELECT %(tenant_id)s, id, agent_id, user_id, role, content, conversation_id,
       COALESCE(occurred_at, clock_timestamp()), metadata, embedding, %(embedding_model)s
FROM konstruct_staging ORDER BY ord
ON CONFLICT (tenant_id, id) DO NOTHING
RETURNING id
"""

# What ranking and a Hit need: no metadata to decode for the ~150 candidates of a recall.
_HITS_BY_IDS = """
SELECT id, user_id, role, content, conversation_id, occurred_at FROM conversation_embeddings
WHERE tenant_id = %(tenant_id)s AND id = ANY(%(ids)s)
"""
_BY_IDS = sql.SQL(
    "SELECT {columns} FROM conversation_embeddings WHERE tenant_id = %(tenant_id)s "
    "AND id = ANY(%(ids)s)"
).format(columns=TURN_COLUMNS)

# Exact search over exactly the rows in scope: never fewer than min(limit, rows in scope).
# OFFSET 0 keeps the subquery from being flattened, so the ORDER BY cannot be served by the
# global HNSW index (which would filter after a fixed-size scan and come back short); the rows
# stream into a top-N sort, with no materialised scope to spill.
_EXACT_NEAREST = sql.SQL(
    """
    SELECT id, 1 - distance AS similarity
    FROM (
        SELECT id, seq, embedding <=> %(query_vector)s AS distance
        FROM conversation_embeddings WHERE {where}
        OFFSET 0
    ) AS scope
    ORDER BY distance, seq DESC LIMIT %(limit)s
    """
)

_INDEXED_NEAREST = sql.SQL(
    """
    SELECT id, 1 - (embedding <=> %(query_vector)s) AS similarity
    FROM conversation_embeddings WHERE {where}
    ORDER BY embedding <=> %(query_vector)s LIMIT %(limit)s
    """
)
# Measured at one million turns on agent scopes of 25k-40k turns (2-4 % of the table): with
# 100 or 200 some queries found none of their true top 10, with 400 every one (BENCHMARKS.md).
EF_SEARCH_FLOOR = 400
# Up to this many turns an agent scope is searched exactly (~1 us a turn). Above it, HNSW with
# EF_SEARCH_FLOOR: as fast and, measured, as exact (BENCHMARKS.md), and the capped count that
# decides stays cheap (it reads at most this many index entries).
EXACT_SCOPE_ROWS = 10_000
# Across users, one statement counts the agent's turns (capped) and searches the scope exactly
# only when the count is within EXACT_SCOPE_ROWS: otherwise its scan is gated off and never
# runs. Always one row at least, so an empty scope is told apart from a gated one.
_GATED_EXACT_NEAREST = sql.SQL(
    """
    SELECT capped.n AS agent_rows, hit.id, hit.similarity
    FROM (
        SELECT count(*) AS n FROM (
            SELECT 1 FROM conversation_embeddings
            WHERE tenant_id = %(tenant_id)s AND agent_id = %(agent_id)s LIMIT %(cap)s
        ) AS agent_turns
    ) AS capped
    LEFT JOIN LATERAL (
        SELECT id, 1 - distance AS similarity, distance, seq
        FROM (
            SELECT id, seq, embedding <=> %(query_vector)s AS distance
            FROM conversation_embeddings WHERE {where} AND capped.n < %(cap)s
            OFFSET 0
        ) AS scope
        ORDER BY distance, seq DESC LIMIT %(limit)s
    ) AS hit ON true
    ORDER BY hit.distance, hit.seq DESC
    """
)
_HNSW_SETTINGS = """
SELECT set_config('hnsw.iterative_scan', 'strict_order', true),
       set_config('hnsw.ef_search', %(ef_search)s, true)
"""

# Keyword relevance: each query lexeme weighs its inverse document frequency within the scope
# (BM25's idf), which PostgreSQL's ts_rank lacks; a turn scores the sum over lexemes it holds.
_KEYWORD_MATCHES = sql.SQL(
    """
    WITH terms AS MATERIALIZED (
        SELECT DISTINCT to_tsquery('simple', quote_literal(t.lexeme)) AS q
        FROM unnest(to_tsvector('english', %(query)s)) AS t(lexeme, positions, weights)
    ), scope AS MATERIALIZED (
        SELECT id, content_tsv FROM conversation_embeddings WHERE {where}
    ), total AS (
        SELECT count(*)::float8 AS n FROM scope
    ), weights AS MATERIALIZED (  -- once per term: inlined, it was recounted per matching row
        SELECT terms.q,
               ln(1 + (total.n - df.n + 0.5) / (df.n + 0.5)) AS idf
        FROM terms CROSS JOIN total
        CROSS JOIN LATERAL (
            SELECT count(*)::float8 AS n FROM scope WHERE scope.content_tsv @@ terms.q
        ) AS df
        WHERE df.n > 0
    )
    SELECT scope.id, sum(weights.idf) AS score
    FROM scope JOIN weights ON scope.content_tsv @@ weights.q
    GROUP BY scope.id
    ORDER BY score DESC, scope.id
    LIMIT %(limit)s
    """
)

_HISTORY = sql.SQL(
    """
    SELECT {columns} FROM conversation_embeddings
    WHERE {where} {before}
    ORDER BY occurred_at DESC, seq DESC
    LIMIT %(limit)s
    """
)
_BEFORE = sql.SQL(
    "AND (occurred_at, seq) < (SELECT occurred_at, seq FROM conversation_embeddings "
    "WHERE tenant_id = %(tenant_id)s AND id = %(before)s)"
)
_CURSOR_EXISTS = sql.SQL("SELECT 1 FROM conversation_embeddings WHERE {where} AND id = %(before)s")

# Neighbours: the turns just before and after each given turn in its own (agent, user) thread.
_NEIGHBOURS = sql.SQL(
    """
    SELECT anchor.id AS anchor_id, near.id, near.offset_
    FROM conversation_embeddings AS anchor
    CROSS JOIN LATERAL (
        (SELECT n.id, -1 AS offset_ FROM conversation_embeddings n
          WHERE n.tenant_id = anchor.tenant_id AND n.agent_id = anchor.agent_id
            AND n.user_id = anchor.user_id AND n.embedding_model = anchor.embedding_model
            AND (n.occurred_at, n.seq) < (anchor.occurred_at, anchor.seq)
          ORDER BY n.occurred_at DESC, n.seq DESC LIMIT %(width)s)
        UNION ALL
        (SELECT n.id, 1 AS offset_ FROM conversation_embeddings n
          WHERE n.tenant_id = anchor.tenant_id AND n.agent_id = anchor.agent_id
            AND n.user_id = anchor.user_id AND n.embedding_model = anchor.embedding_model
            AND (n.occurred_at, n.seq) > (anchor.occurred_at, anchor.seq)
          ORDER BY n.occurred_at, n.seq LIMIT %(width)s)
    ) AS near
    WHERE anchor.tenant_id = %(tenant_id)s AND anchor.id = ANY(%(ids)s)
    """
)


@dataclass(frozen=True)
class Scope:
    """Which turns a read may see. ``user_id=None`` means every user of the agent."""

    tenant_id: UUID
    agent_id: UUID
    user_id: str | None
    embedding_model: str | None = None
    conversation_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    roles: Sequence[Role] | None = None

    def where(self) -> tuple[sql.Composable, dict[str, Any]]:
        """The WHERE clause (fixed fragments only) and its parameters."""
        parts = [sql.SQL("tenant_id = %(tenant_id)s"), sql.SQL("agent_id = %(agent_id)s")]
        params: dict[str, Any] = {"tenant_id": self.tenant_id, "agent_id": self.agent_id}
        optional: list[tuple[str, object, str]] = [
            ("user_id", self.user_id, "user_id = %(user_id)s"),
            ("embedding_model", self.embedding_model, "embedding_model = %(embedding_model)s"),
            ("conversation_id", self.conversation_id, "conversation_id = %(conversation_id)s"),
            ("since", self.since, "occurred_at >= %(since)s"),
            ("until", self.until, "occurred_at < %(until)s"),
            ("roles", list(self.roles) if self.roles else None, "role = ANY(%(roles)s)"),
        ]
        for name, value, fragment in optional:
            if value is not None:
                parts.append(sql.SQL(fragment))  # fixed literals above, never caller text
                params[name] = value
        return sql.SQL(" AND ").join(parts), params


def turns_by_ids(
    conn: Connection, tenant_id: UUID, ids: Sequence[UUID]
) -> dict[UUID, dict[str, Any]]:
    rows = conn.execute(_BY_IDS, {"tenant_id": tenant_id, "ids": list(ids)}).fetchall()
    return {row["id"]: row for row in rows}


def hit_rows(conn: Connection, tenant_id: UUID, ids: Sequence[UUID]) -> dict[UUID, dict[str, Any]]:
    rows = conn.execute(_HITS_BY_IDS, {"tenant_id": tenant_id, "ids": list(ids)}).fetchall()
    return {row["id"]: row for row in rows}


def insert_turns(
    conn: Connection,
    tenant_id: UUID,
    embedding_model: str,
    turns: Sequence[tuple[UUID, ValidTurn]],
    vectors: Vectors,
) -> set[UUID]:
    """Insert in order; returns the ids actually inserted (an id already stored is skipped)."""
    if not turns:
        return set()
    conn.execute(_STAGING)
    with conn.cursor() as cur, cur.copy(_COPY_TO_STAGING) as copy:
        copy.set_types(_STAGING_TYPES)
        for ord_, ((turn_id, turn), vector) in enumerate(zip(turns, vectors, strict=True)):
            copy.write_row(
                (
                    ord_,
                    turn_id,
                    turn.agent_id,
                    turn.user_id,
                    turn.role,
                    turn.content,
                    turn.conversation_id,
                    turn.occurred_at,
                    Jsonb(turn.metadata),
                    vector,
                )
            )
    params = {"tenant_id": tenant_id, "embedding_model": embedding_model}
    return {row["id"] for row in conn.execute(_INSERT_STAGED, params).fetchall()}


def ef_search(limit: int) -> int:
    """HNSW candidate-list size for a filtered search of ``limit`` results."""
    return max(EF_SEARCH_FLOOR, 2 * limit)


def nearest(
    conn: Connection,
    scope: Scope,
    query_vector: Vectors,
    limit: int,
    *,
    plans: list[str] | None = None,
) -> list[tuple[UUID, float]]:
    """The ``limit`` turns in scope closest to ``query_vector``, best first; never short.

    Exact unless the scope spans users of an agent with more than EXACT_SCOPE_ROWS turns; then
    HNSW with iterative scan (recall@10 against exact at one million turns in BENCHMARKS.md).
    With ``plans``, each statement's EXPLAIN ANALYZE is appended to it before the statement runs.
    """
    where, params = scope.where()
    params |= {"query_vector": query_vector, "limit": limit, "cap": EXACT_SCOPE_ROWS + 1}

    def run(statement: sql.SQL) -> list[dict[str, Any]]:
        composed = statement.format(where=where)
        if plans is not None:
            plans.extend(_explain(conn, composed, params))
        return conn.execute(composed, params).fetchall()

    if scope.user_id is not None:
        return _hits(run(_EXACT_NEAREST))
    rows = run(_GATED_EXACT_NEAREST)
    if rows[0]["agent_rows"] <= EXACT_SCOPE_ROWS:
        return _hits(row for row in rows if row["id"] is not None)
    settings = {"ef_search": str(ef_search(limit))}
    if plans is None:
        with conn.pipeline():  # the settings travel with the search: one round trip
            conn.execute(_HNSW_SETTINGS, settings)
            search = conn.execute(_INDEXED_NEAREST.format(where=where), params)
        rows = search.fetchall()
    else:
        conn.execute(_HNSW_SETTINGS, settings)
        rows = run(_INDEXED_NEAREST)
    if len(rows) < limit:  # filters (model, thread, role…) left the index scan short
        rows = run(_EXACT_NEAREST)
    return _hits(rows)


def explain_nearest(conn: Connection, scope: Scope, query_vector: Vectors, limit: int) -> list[str]:
    """EXPLAIN ANALYZE of each statement ``nearest`` runs for this scope, in order."""
    plans: list[str] = []
    nearest(conn, scope, query_vector, limit, plans=plans)
    return plans


def _explain(conn: Connection, statement: sql.Composed, params: dict[str, Any]) -> list[str]:
    rows = conn.execute(sql.SQL("EXPLAIN (ANALYZE, COSTS OFF) ") + statement, params)
    return [r["QUERY PLAN"] for r in rows.fetchall()]


def _hits(rows: Iterable[dict[str, Any]]) -> list[tuple[UUID, float]]:
    return [(r["id"], float(r["similarity"])) for r in rows]


def keyword_matches(
    conn: Connection, scope: Scope, query: str, limit: int
) -> list[tuple[UUID, float]]:
    """Turns in scope sharing lexemes with ``query``, by summed idf, best first."""
    where, params = scope.where()
    params |= {"query": query, "limit": limit}
    rows = conn.execute(_KEYWORD_MATCHES.format(where=where), params).fetchall()
    return [(r["id"], float(r["score"])) for r in rows]


def neighbours(
    conn: Connection, tenant_id: UUID, ids: Sequence[UUID], width: int
) -> list[tuple[UUID, UUID, int]]:
    """(anchor id, neighbour id, offset) for up to ``width`` turns either side of each anchor."""
    rows = conn.execute(_NEIGHBOURS, {"tenant_id": tenant_id, "ids": list(ids), "width": width})
    return [(r["anchor_id"], r["id"], int(r["offset_"])) for r in rows.fetchall()]


def history(
    conn: Connection, scope: Scope, limit: int, before: UUID | None
) -> list[dict[str, Any]]:
    """The newest ``limit`` turns in scope older than ``before`` (a turn id), newest first.

    Check ``cursor_exists`` first: an unknown cursor would silently give an empty page."""
    where, params = scope.where()
    params |= {"limit": limit, "before": before}
    query = _HISTORY.format(
        columns=TURN_COLUMNS, where=where, before=_BEFORE if before is not None else sql.SQL("")
    )
    return conn.execute(query, params).fetchall()


def cursor_exists(conn: Connection, scope: Scope, before: UUID) -> bool:
    where, params = scope.where()
    params["before"] = before
    return conn.execute(_CURSOR_EXISTS.format(where=where), params).fetchone() is not None


# -- tenants (owner connection: tenant administration is not the runtime role's job) ----------

_CREATE_TENANT = "INSERT INTO tenants (name) VALUES (%(name)s) RETURNING id, name, created_at"
_LIST_TENANTS = "SELECT id, name, created_at FROM tenants ORDER BY created_at, id"


def create_tenant(conn: Connection, name: str) -> dict[str, Any]:
    row = conn.execute(_CREATE_TENANT, {"name": name}).fetchone()
    assert row is not None
    return row


def list_tenants(conn: Connection) -> list[dict[str, Any]]:
    return conn.execute(_LIST_TENANTS).fetchall()


_TENANT_EXISTS = "SELECT 1 FROM tenants WHERE id = %(tenant_id)s"
_CREATE_KEY = """
INSERT INTO api_keys (tenant_id, key_hash) VALUES (%(tenant_id)s, %(key_hash)s)
RETURNING id, tenant_id, created_at
"""
_REVOKE_KEY = """
UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = %(key_id)s
RETURNING id
"""
_AUTHENTICATE = "SELECT konstruct_authenticate(%(key_hash)s) AS tenant_id"


def tenant_exists(conn: Connection, tenant_id: UUID) -> bool:
    return conn.execute(_TENANT_EXISTS, {"tenant_id": tenant_id}).fetchone() is not None


def create_api_key(conn: Connection, tenant_id: UUID, key_hash: bytes) -> dict[str, Any]:
    row = conn.execute(_CREATE_KEY, {"tenant_id": tenant_id, "key_hash": key_hash}).fetchone()
    assert row is not None
    return row


def revoke_api_key(conn: Connection, key_id: UUID) -> bool:
    return conn.execute(_REVOKE_KEY, {"key_id": key_id}).fetchone() is not None


def authenticate(conn: Connection, key_hash: bytes) -> UUID | None:
    """The tenant of a live key with this hash, or None. Runs as the runtime role."""
    row = conn.execute(_AUTHENTICATE, {"key_hash": key_hash}).fetchone()
    return row["tenant_id"] if row else None
