"""Finding turns: nearest vectors (exact or HNSW), keyword matches, neighbours, candidates.

Every statement names ``tenant_id`` explicitly although row-level security filters by it too:
the planner can then use the scope index, and a distributed (Citus) deployment can route by it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.rows import args_row

from konstruct_memory.db.tenant import TenantConnection
from konstruct_memory.embed import Vectors
from konstruct_memory.store.rows import CandidateRow, columns
from konstruct_memory.store.scope import Scope

# A turn of one agent's memory: (id, user_id). An id is unique per (agent, user) only.
Ref = tuple[UUID, str]

# What ranking and a Hit need, of the candidates that are in scope: a neighbour lent a score
# may lie outside the filters (time, role, thread), and is dropped here. Each row's similarity
# to the query is computed here, as a neighbour need not have been a vector candidate. The rows
# are found by primary key behind an OFFSET 0 fence, then filtered: otherwise the planner may
# walk the whole scope on its index and test each row against the id list (linear in the
# scope). A long turn's similarity is the best of its own vector's and its windows' (one probe
# of the windows' primary key per row; a short turn has none, and keeps its own).
# ``{vectors}`` is where the vector and its model come from, as ``{v}``: the turn's own row
# (``t``), or, for a tenant whose vectors are beside the turns, ``turn_vectors`` (``v``: the
# columns the scope filters on are there too) joined to the turn's row for its content.
_CANDIDATES = sql.SQL(
    """
    SELECT {columns}
    FROM (
        SELECT t.tenant_id, t.id, t.agent_id, t.user_id, t.role, t.content, t.conversation_id,
               t.occurred_at, t.created_at, {v}.embedding_model,
               greatest(1 - ({v}.embedding <=> %(query_vector)s), (
                   SELECT max(1 - (w.embedding <=> %(query_vector)s)) FROM turn_windows w
                   WHERE w.tenant_id = %(tenant_id)s AND w.turn_id = {v}.id
                     AND w.agent_id = {v}.agent_id AND w.user_id = {v}.user_id
                     AND w.embedding_model = {v}.embedding_model
               )) AS similarity
        FROM {vectors}
        WHERE {v}.tenant_id = %(tenant_id)s AND {v}.id = ANY(%(ids)s)
        OFFSET 0
    ) AS candidate
    WHERE {where}
    """
)
_OWN_VECTORS = sql.SQL("conversation_embeddings t")
_VECTORS_BESIDE = sql.SQL(
    """turn_vectors v
        JOIN conversation_embeddings t
          ON t.tenant_id = v.tenant_id AND t.id = v.id AND t.agent_id = v.agent_id
         AND t.user_id = v.user_id AND v.embedding_model = %(embedding_model)s"""
)

# Exact search over exactly the rows in scope: never fewer than min(limit, rows in scope).
# OFFSET 0 keeps the subquery from being flattened, so the ORDER BY cannot be served by the
# global HNSW index (which would filter after a fixed-size scan and come back short); the rows
# stream into a top-N sort, with no materialised scope to spill.
_EXACT_NEAREST = sql.SQL(
    """
    SELECT id, 1 - distance AS similarity
    FROM (
        SELECT id, seq, embedding <=> %(query_vector)s AS distance
        FROM {table} WHERE {where}
        OFFSET 0
    ) AS scope
    ORDER BY distance, seq DESC LIMIT %(limit)s
    """
)

# ``partial``: beside the turns, each model's vectors have an HNSW index of their own, which
# the planner uses only if the statement names the model as its predicate does (a literal).
_INDEXED_NEAREST = sql.SQL(
    """
    SELECT id, 1 - (embedding <=> %(query_vector)s) AS similarity
    FROM {table} WHERE {where} {partial}
    ORDER BY embedding <=> %(query_vector)s LIMIT %(limit)s
    """
)
# Measured at one million turns on agent scopes of 25k-40k turns (2-4 % of the table): with
# 100 or 200 some queries found none of their true top 10, with 400 every one (BENCHMARKS.md).
EF_SEARCH_FLOOR = 400
# Up to this many turns a scope (one user's, or an agent's across users) is searched exactly
# (~1 us a turn). Above it, HNSW with EF_SEARCH_FLOOR: as fast and, measured, as exact
# (BENCHMARKS.md, "Heavy scopes"), and the capped count that decides stays cheap (it reads at
# most this many index entries).
EXACT_SCOPE_ROWS = 10_000
# One statement counts the scope's turns (capped, on the scope index) and searches the scope
# exactly only when the count is within EXACT_SCOPE_ROWS: otherwise its scan is gated off and
# never runs. Always one row at least, so an empty scope is told apart from a gated one.
_GATED_EXACT_NEAREST = sql.SQL(
    """
    SELECT capped.n AS scope_rows, hit.id, hit.similarity
    FROM (
        SELECT count(*) AS n FROM (
            SELECT 1 FROM {table}
            WHERE tenant_id = %(tenant_id)s AND agent_id = %(agent_id)s {user} LIMIT %(cap)s
        ) AS scope_turns
    ) AS capped
    LEFT JOIN LATERAL (
        SELECT id, 1 - distance AS similarity, distance, seq
        FROM (
            SELECT id, seq, embedding <=> %(query_vector)s AS distance
            FROM {table} WHERE {where} AND capped.n < %(cap)s
            OFFSET 0
        ) AS scope
        ORDER BY distance, seq DESC LIMIT %(limit)s
    ) AS hit ON true
    ORDER BY hit.distance, hit.seq DESC
    """
)
# For the indexed statement only: with sorting disabled, the planner cannot answer a user's
# scope by walking the scope index and sorting it (its choice when it underestimates the
# scope, linear in it); the HNSW index is the one path left that yields the order.
HNSW_SETTINGS = """
SELECT set_config('hnsw.iterative_scan', 'strict_order', true),
       set_config('hnsw.ef_search', %(ef_search)s, true),
       set_config('enable_sort', 'off', true)
"""
SORT_AGAIN = "SELECT set_config('enable_sort', 'on', true)"

# Neighbours: the turns just before and after each given turn in its own (agent, user) thread.
_NEIGHBOURS = sql.SQL(
    """
    SELECT anchor.id AS anchor_id, near.id, near.offset_
    FROM {table} AS anchor
    CROSS JOIN LATERAL (
        (SELECT n.id, -1 AS offset_ FROM {table} n
          WHERE n.tenant_id = %(tenant_id)s AND n.agent_id = anchor.agent_id
            AND n.user_id = anchor.user_id AND n.embedding_model = anchor.embedding_model
            AND (n.occurred_at, n.seq) < (anchor.occurred_at, anchor.seq)
          ORDER BY n.occurred_at DESC, n.seq DESC LIMIT %(width)s)
        UNION ALL
        (SELECT n.id, 1 AS offset_ FROM {table} n
          WHERE n.tenant_id = %(tenant_id)s AND n.agent_id = anchor.agent_id
            AND n.user_id = anchor.user_id AND n.embedding_model = anchor.embedding_model
            AND (n.occurred_at, n.seq) > (anchor.occurred_at, anchor.seq)
          ORDER BY n.occurred_at, n.seq LIMIT %(width)s)
    ) AS near
    WHERE anchor.tenant_id = %(tenant_id)s AND anchor.id = ANY(%(ids)s)
      AND anchor.agent_id = %(agent_id)s AND anchor.user_id = %(user_id)s {anchor_model}
    """
)

# How many turns of a span ``said_within`` compares with the query at most (a day of chat).
SPAN_READ = 2_000

# The turns said within given spans of time (a day the query names), the closest to the query
# first: exact distances over the span's first turns, on the scope's time-ordered index.
_SAID_WITHIN = sql.SQL(
    """
    SELECT said.id, said.user_id, 1 - said.distance AS similarity
    FROM unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[]) AS span(starts, ends)
    CROSS JOIN LATERAL (
        SELECT id, user_id, embedding <=> %(query_vector)s AS distance
        FROM (
            SELECT id, user_id, embedding FROM {table}
            WHERE {where} AND occurred_at >= span.starts AND occurred_at < span.ends
            ORDER BY occurred_at LIMIT %(read)s
        ) AS within_span
        ORDER BY distance LIMIT %(limit)s
    ) AS said
    """
)

# Restatements: pairs of the given turns where the earlier one is by the same speaker, in the
# same (agent, user) thread, and close in meaning to the later one (what a correction revises).
# Each side is read by primary key alone, in a CTE of its own, and only then matched: with
# the scope's columns in the same WHERE, a planner without fresh statistics (a tenant just
# bulk-loaded, before autovacuum analyses it) estimated one row for the agent and walked the
# scope index once per later turn, filtering every turn of the agent by id: 59 ms instead of
# 1.5 ms on a 10,000-turn agent.
_RESTATED = sql.SQL(
    """
    WITH later AS MATERIALIZED (
        SELECT id, agent_id, user_id, role, embedding_model, occurred_at, seq, embedding
        FROM {table} WHERE tenant_id = %(tenant_id)s AND id = ANY(%(later)s)
    ), earlier AS MATERIALIZED (
        SELECT id, agent_id, user_id, role, embedding_model, occurred_at, seq, embedding
        FROM {table} WHERE tenant_id = %(tenant_id)s AND id = ANY(%(earlier)s)
    )
    SELECT later.id AS later_id, later.user_id, earlier.id AS earlier_id,
           1 - (earlier.embedding <=> later.embedding) AS similarity
    FROM later
    JOIN earlier
      ON earlier.agent_id = later.agent_id AND earlier.user_id = later.user_id
     AND earlier.role = later.role AND earlier.embedding_model = later.embedding_model
     AND (earlier.occurred_at, earlier.seq) < (later.occurred_at, later.seq)
    WHERE later.agent_id = %(agent_id)s
      AND 1 - (earlier.embedding <=> later.embedding) >= %(similarity)s {later_model}
    """
)


def candidates(
    tx: TenantConnection, scope: Scope, ids: Sequence[UUID], query_vector: Vectors
) -> dict[Ref, CandidateRow]:
    """The rows of ``ids`` that lie in ``scope``, with their similarity to ``query_vector``, by
    (id, user): across users, two users' turns may share an id."""
    where, params = scope.where(tx)
    params |= {"ids": list(ids), "query_vector": query_vector}
    vectors = _VECTORS_BESIDE if scope.beside else _OWN_VECTORS
    with tx.conn.cursor(row_factory=args_row(CandidateRow)) as cur:
        statement = _CANDIDATES.format(
            columns=columns(CandidateRow),
            where=where,
            vectors=vectors,
            v=sql.Identifier("v" if scope.beside else "t"),
        )
        rows = cur.execute(statement, params).fetchall()
    return {(row.id, row.user_id): row for row in rows}


def ef_search(limit: int) -> int:
    """HNSW candidate-list size for a filtered search of ``limit`` results."""
    return max(EF_SEARCH_FLOOR, 2 * limit)


def nearest(
    tx: TenantConnection,
    scope: Scope,
    query_vector: Vectors,
    limit: int,
    *,
    plans: list[str] | None = None,
) -> list[tuple[UUID, float]]:
    """The ``limit`` turns in scope closest to ``query_vector``, best first; never short.

    Exact unless the scope (a user's, or an agent's across users) holds more than
    EXACT_SCOPE_ROWS turns; then HNSW with iterative scan, and exact again if the filters left
    the index scan short (recall@10 against exact in BENCHMARKS.md, "Heavy scopes").
    With ``plans``, each statement's EXPLAIN ANALYZE is appended to it before the statement runs.
    """
    conn = tx.conn
    where, params = scope.where(tx)
    params |= {"query_vector": query_vector, "limit": limit, "cap": EXACT_SCOPE_ROWS + 1}
    user = sql.SQL("AND user_id = %(user_id)s" if scope.user_id is not None else "")
    table = scope.vectors
    partial = _partial(scope)

    def run(statement: sql.SQL) -> list[dict[str, Any]]:
        composed = statement.format(where=where, user=user, table=table, partial=partial)
        if plans is not None:
            plans.extend(_explain(tx, composed, params))
        return conn.execute(composed, params).fetchall()

    rows = run(_GATED_EXACT_NEAREST)
    if rows[0]["scope_rows"] <= EXACT_SCOPE_ROWS:
        return _hits(row for row in rows if row["id"] is not None)
    settings = {"ef_search": str(ef_search(limit))}
    if plans is None:
        with conn.pipeline():  # the settings travel with the search: one round trip
            conn.execute(HNSW_SETTINGS, settings)
            indexed = _INDEXED_NEAREST.format(where=where, table=table, partial=partial)
            search = conn.execute(indexed, params)
            conn.execute(SORT_AGAIN)
        rows = search.fetchall()
    else:
        conn.execute(HNSW_SETTINGS, settings)
        rows = run(_INDEXED_NEAREST)
        conn.execute(SORT_AGAIN)
    if len(rows) < limit:  # filters (model, thread, role…) left the index scan short
        rows = run(_EXACT_NEAREST)
    return _hits(rows)


def _partial(scope: Scope) -> sql.Composable:
    """The predicate of the model's own HNSW index beside the turns (none on the turns)."""
    if not scope.beside or scope.embedding_model is None:
        return sql.SQL("")
    return sql.SQL("AND embedding_model = {}").format(sql.Literal(scope.embedding_model))


def explain_nearest(
    tx: TenantConnection, scope: Scope, query_vector: Vectors, limit: int
) -> list[str]:
    """EXPLAIN ANALYZE of each statement ``nearest`` runs for this scope, in order."""
    plans: list[str] = []
    nearest(tx, scope, query_vector, limit, plans=plans)
    return plans


def _explain(tx: TenantConnection, statement: sql.Composed, params: dict[str, Any]) -> list[str]:
    rows = tx.conn.execute(sql.SQL("EXPLAIN (ANALYZE, COSTS OFF) ") + statement, params)
    return [r["QUERY PLAN"] for r in rows.fetchall()]


def _hits(rows: Iterable[dict[str, Any]]) -> list[tuple[UUID, float]]:
    return [(r["id"], float(r["similarity"])) for r in rows]


# Two probes of ix_conv_embed_scope_model, one either side of the scope's model: O(log n)
# however many turns the user has ("<>" would walk every entry of the scope).
_OTHER_MODEL = """
(SELECT embedding_model FROM conversation_embeddings
 WHERE tenant_id = %(tenant_id)s AND agent_id = %(agent_id)s AND user_id = %(user_id)s
   AND embedding_model < %(model)s LIMIT 1)
UNION ALL
(SELECT embedding_model FROM conversation_embeddings
 WHERE tenant_id = %(tenant_id)s AND agent_id = %(agent_id)s AND user_id = %(user_id)s
   AND embedding_model > %(model)s LIMIT 1)
LIMIT 1
"""


def other_model(tx: TenantConnection, scope: Scope) -> str | None:
    """A model other than the scope's that some of the (agent, user)'s turns were embedded
    with, or None: vectors of two models cannot be compared."""
    params = tx.params(agent_id=scope.agent_id, user_id=scope.user_id, model=scope.embedding_model)
    row = tx.conn.execute(_OTHER_MODEL, params).fetchone()
    return None if row is None else str(row["embedding_model"])


def neighbours(
    tx: TenantConnection, scope: Scope, ids: Sequence[UUID], width: int
) -> list[tuple[UUID, UUID, int]]:
    """(anchor id, neighbour id, offset) for up to ``width`` turns either side of each anchor,
    turns of the scope's (agent, user) (an id names one turn there, not across users)."""
    params = tx.params(agent_id=scope.agent_id, user_id=scope.user_id, ids=list(ids), width=width)
    anchor_model = sql.SQL("")
    if scope.beside:  # a turn has a row there per model
        anchor_model = sql.SQL("AND anchor.embedding_model = %(model)s")
        params["model"] = scope.embedding_model
    statement = _NEIGHBOURS.format(table=scope.vectors, anchor_model=anchor_model)
    rows = tx.conn.execute(statement, params)
    return [(r["anchor_id"], r["id"], int(r["offset_"])) for r in rows.fetchall()]


def said_within(
    tx: TenantConnection,
    scope: Scope,
    spans: Sequence[tuple[datetime, datetime]],
    query_vector: Vectors,
    limit: int,
) -> dict[Ref, float]:
    """Up to ``limit`` turns of ``scope`` said within each [start, end) of ``spans``, the
    closest to ``query_vector``, with their similarity (of the pooled vector); of a span
    holding more than ``SPAN_READ`` turns, its first ones."""
    if not spans:
        return {}
    where, params = scope.where(tx)
    params |= {
        "starts": [start for start, _ in spans],
        "ends": [end for _, end in spans],
        "query_vector": query_vector,
        "limit": limit,
        "read": SPAN_READ,
    }
    statement = _SAID_WITHIN.format(where=where, table=scope.vectors)
    rows = tx.conn.execute(statement, params).fetchall()
    return {(r["id"], r["user_id"]): float(r["similarity"]) for r in rows}


def restated(
    tx: TenantConnection,
    scope: Scope,
    later: Sequence[Ref],
    earlier: Sequence[Ref],
    similarity: float,
    *,
    plans: list[str] | None = None,
) -> list[tuple[Ref, Ref, float]]:
    """(later, earlier, cosine) for ``later`` from the first turns and ``earlier`` from the
    second: the same speaker of the same (agent, user), said before, at ``similarity`` or
    more. With ``plans``, the statement's EXPLAIN ANALYZE is appended to it first."""
    params = tx.params(
        agent_id=scope.agent_id,
        later=[i for i, _ in later],
        earlier=[i for i, _ in earlier],
        similarity=similarity,
    )
    later_model = sql.SQL("")
    if scope.beside:  # a turn has a row there per model
        later_model = sql.SQL("AND later.embedding_model = %(model)s")
        params["model"] = scope.embedding_model
    statement = _RESTATED.format(table=scope.vectors, later_model=later_model)
    if plans is not None:
        plans.extend(_explain(tx, statement, params))
    wanted_later, wanted_earlier = set(later), set(earlier)
    pairs = []
    for r in tx.conn.execute(statement, params).fetchall():
        later_ref, earlier_ref = (r["later_id"], r["user_id"]), (r["earlier_id"], r["user_id"])
        # An id names one turn per (agent, user): across users, keep only the pairs asked for.
        if later_ref in wanted_later and earlier_ref in wanted_earlier:
            pairs.append((later_ref, earlier_ref, float(r["similarity"])))
    return pairs
