"""The window vectors of long turns (``turn_windows``, migration 013): written with their turn,
searched beside the turns' own vectors.

A turn longer than the model's window is stored with the mean of its windows' vectors; its
windows' own vectors are kept here, and only for such turns (a small share of most memories).
Recall scores a turn by the best of its pooled vector and its windows', so a fact of one
sentence late in a long answer is found by its window. Every statement names ``tenant_id``
(row-level security filters by it too; Citus routes by it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import sql

from konstruct_memory.db.tenant import TenantConnection
from konstruct_memory.embed import Vectors
from konstruct_memory.store import search
from konstruct_memory.store.scope import Scope
from konstruct_memory.store.staging import Staging

# A turn's identity, as in store.turns: its id within its (agent, user).
TurnKey = tuple[UUID, UUID, str]

# As the turns' batch, through a staging table (store.staging).
_STAGING = Staging(
    "konstruct_window_staging",
    (
        ("turn_id", "uuid"), ("agent_id", "uuid"), ("user_id", "text"), ("window_no", "int2"),
        ("embedding", "vector"),
    ),
)  # fmt: skip
# Only the windows of turns this batch inserted are staged; a retry that finds them stored
# (a concurrent writer of the same turn) adds nothing.
_INSERT_STAGED = """
INSERT INTO turn_windows
    (tenant_id, turn_id, agent_id, user_id, window_no, embedding, embedding_model)
SELECT %(tenant_id)s, turn_id, agent_id, user_id, window_no, embedding, %(embedding_model)s
FROM konstruct_window_staging
ON CONFLICT (tenant_id, turn_id, agent_id, user_id, embedding_model, window_no) DO NOTHING
"""

# A window counts only if its turn is in scope: the filters of a read (thread, time, role) are
# the turn's. Each window found probes its turn by primary key (or its vector of the model,
# which holds the same columns, when the tenant's vectors are beside the turns).
_TURN_IN_SCOPE = """
EXISTS (SELECT 1 FROM {table}
        WHERE {where} AND id = w.turn_id AND agent_id = w.agent_id AND user_id = w.user_id)
"""
# Each turn's best window, best turns first, over exactly the scope's windows.
_EXACT = """
SELECT w.turn_id AS id, w.user_id, max(1 - (w.embedding <=> %(query_vector)s)) AS similarity
FROM turn_windows w
WHERE {windows} AND {gate} AND {in_scope}
GROUP BY w.turn_id, w.user_id
ORDER BY similarity DESC, w.turn_id LIMIT %(limit)s
"""
# Gated like the turns' search (search._GATED_EXACT_NEAREST) by a capped count of the scope's
# windows on the scope index. Always one row at least, so an empty scope is told apart from a
# gated one.
_GATED_EXACT = """
SELECT capped.n AS scope_windows, hit.id, hit.similarity
FROM (
    SELECT count(*) AS n FROM (
        SELECT 1 FROM turn_windows w WHERE {windows} LIMIT %(cap)s
    ) AS scope_windows
) AS capped
LEFT JOIN LATERAL ({exact}) AS hit ON true
ORDER BY hit.similarity DESC, hit.id
"""
# More windows than that (an agent's across thousands of users): the HNSW index, windows best
# first, with the settings of the turns' indexed search. A turn may come back several times
# (its best window first); ``limit`` windows bound what is missed as ``limit`` turns would.
_INDEXED = """
SELECT w.turn_id AS id, 1 - (w.embedding <=> %(query_vector)s) AS similarity
FROM turn_windows w
WHERE {windows} AND {in_scope}
ORDER BY w.embedding <=> %(query_vector)s LIMIT %(limit)s
"""


def insert_windows(
    tx: TenantConnection,
    embedding_model: str,
    windows: Sequence[tuple[TurnKey, Vectors]],
) -> None:
    """Store each turn's window rows (numbered in order) for ``windows``: (turn key, rows)."""
    rows = [(key, n, vector) for key, vectors in windows for n, vector in enumerate(vectors)]
    if not rows:
        return
    _STAGING.copy(tx, ((*key, window_no, vector) for key, window_no, vector in rows))
    tx.conn.execute(_INSERT_STAGED, tx.params(embedding_model=embedding_model))


def nearest(
    tx: TenantConnection, scope: Scope, query_vector: Vectors, limit: int
) -> tuple[list[tuple[UUID, float]], float | None]:
    """The turns in scope whose best window is closest to ``query_vector``: up to ``limit``,
    best first, each with that window's similarity; and a bound on the best window of every
    turn left out (None when none was: the scope's windows were all read)."""
    windows, params = _windows_of(tx, scope)
    where, scope_params = scope.where(tx)
    params |= scope_params | {
        "query_vector": query_vector,
        "limit": limit,
        "cap": search.EXACT_SCOPE_ROWS + 1,
    }
    parts = {
        "windows": windows,
        "in_scope": sql.SQL(_TURN_IN_SCOPE).format(where=where, table=scope.vectors),
        "gate": sql.SQL("capped.n < %(cap)s"),
    }
    conn = tx.conn
    gated = sql.SQL(_GATED_EXACT).format(windows=windows, exact=sql.SQL(_EXACT).format(**parts))
    rows = conn.execute(gated, params).fetchall()
    if rows[0]["scope_windows"] <= search.EXACT_SCOPE_ROWS:
        return _best_turns(rows, limit)
    settings = {"ef_search": str(search.ef_search(limit))}
    with conn.pipeline():  # the settings travel with the search: one round trip
        conn.execute(search.HNSW_SETTINGS, settings)
        found = conn.execute(sql.SQL(_INDEXED).format(**parts), params)
        conn.execute(search.SORT_AGAIN)
    ordered = found.fetchall()
    if len(ordered) < limit:  # the filters left the index scan short: exact, ungated
        exact = sql.SQL(_EXACT).format(**(parts | {"gate": sql.SQL("true")}))
        return _best_turns(conn.execute(exact, params).fetchall(), limit)
    best: dict[UUID, float] = {}
    for row in ordered:
        best.setdefault(row["id"], float(row["similarity"]))
    bound = float(ordered[-1]["similarity"]) if len(ordered) >= limit else None
    return list(best.items()), bound


def _best_turns(
    rows: Sequence[dict[str, Any]], limit: int
) -> tuple[list[tuple[UUID, float]], float | None]:
    hits = [(r["id"], float(r["similarity"])) for r in rows if r["id"] is not None]
    return hits, (hits[-1][1] if len(hits) >= limit else None)


def _windows_of(tx: TenantConnection, scope: Scope) -> tuple[sql.Composable, dict[str, Any]]:
    """The filters on ``turn_windows`` alone that the scope implies (its index's columns)."""
    parts = [sql.SQL("w.tenant_id = %(tenant_id)s"), sql.SQL("w.agent_id = %(agent_id)s")]
    params = tx.params(agent_id=scope.agent_id)
    if scope.user_id is not None:
        parts.append(sql.SQL("w.user_id = %(user_id)s"))
        params["user_id"] = scope.user_id
    if scope.embedding_model is not None:
        parts.append(sql.SQL("w.embedding_model = %(embedding_model)s"))
        params["embedding_model"] = scope.embedding_model
    return sql.SQL(" AND ").join(parts), params
