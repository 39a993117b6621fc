"""Keyword matches: the turns of a scope sharing words with the query, weighted by rarity.

Every statement names ``tenant_id`` explicitly although row-level security filters by it too
(see ``store.search``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from psycopg import sql

from konstruct_memory.db.tenant import TenantConnection
from konstruct_memory.store.scope import Scope
from konstruct_memory.store.search import Ref

# Keyword relevance on a fixed scale: the share of the query's idf weight that a turn holds.
# Each query lexeme weighs its inverse document frequency within the turns searched (BM25's idf,
# which PostgreSQL's ts_rank lacks), lexemes no turn holds included; a turn scores the weights
# of the lexemes it holds over the query's total, in [0, 1].
#
# The turns searched are the scope's most recent ``window`` (all of a smaller scope), on the
# scope's time-ordered index. Row-level security leaves the GIN index unused: ``@@`` is not
# leakproof, so PostgreSQL may not test it before the tenant policy, and every turn searched is
# read and tested (BENCHMARKS.md, "Heavy scopes"). The window bounds that read: on a scope of
# 200,000 turns of chat, reading them all was most of a recall's time.
_KEYWORD_MATCHES = sql.SQL(
    """
    WITH searched AS MATERIALIZED (
        SELECT id, user_id, content_tsv FROM conversation_embeddings WHERE {where}
        ORDER BY occurred_at DESC, seq DESC LIMIT %(window)s
    ), terms AS MATERIALIZED (
        SELECT DISTINCT t.lexeme, to_tsquery('simple', quote_literal(t.lexeme)) AS q
        FROM unnest(to_tsvector('english', %(query)s)) AS t(lexeme, positions, weights)
    ), matches AS MATERIALIZED (
        SELECT id, user_id, content_tsv FROM searched
        WHERE content_tsv @@ (
            SELECT to_tsquery('simple', string_agg(quote_literal(lexeme), ' | ')) FROM terms
        )
    ), total AS (
        SELECT count(*)::float8 AS n FROM searched
    ), weights AS MATERIALIZED (  -- once per term: inlined, it was recounted per matching row
        SELECT terms.lexeme, terms.q,
               ln(1 + (total.n - df.n + 0.5) / (df.n + 0.5)) AS idf
        FROM terms CROSS JOIN total
        CROSS JOIN LATERAL (
            SELECT count(*)::float8 AS n FROM matches WHERE matches.content_tsv @@ terms.q
        ) AS df
    )
    SELECT hit.id, hit.user_id, hit.score, every.lexemes, every.idfs
    FROM (  -- always one row at least: the weights, even when no turn matches
        SELECT array_agg(lexeme ORDER BY lexeme) AS lexemes, array_agg(idf ORDER BY lexeme) AS idfs
        FROM weights
    ) AS every
    LEFT JOIN LATERAL (
        SELECT matches.id, matches.user_id,
               sum(weights.idf) / (SELECT sum(idf) FROM weights) AS score
        FROM matches JOIN weights ON matches.content_tsv @@ weights.q
        GROUP BY matches.id, matches.user_id
        ORDER BY score DESC, matches.id, matches.user_id
        LIMIT %(limit)s
    ) AS hit ON true
    ORDER BY hit.score DESC, hit.id, hit.user_id
    """
)
# The coverage of given turns in scope, by the weights of a windowed keyword stage: a vector
# candidate older than the window holds the query's words as much as a turn inside it, and
# without its coverage the window's turns would outrank it for being recent. Found by primary
# key behind an OFFSET 0 fence, as the candidates are.
_COVERAGE = sql.SQL(
    """
    SELECT id, user_id, (
        SELECT coalesce(sum(w.idf), 0)
        FROM unnest(%(lexemes)s::text[], %(idfs)s::float8[]) AS w(lexeme, idf)
        WHERE content_tsv @@ to_tsquery('simple', quote_literal(w.lexeme))
    ) / %(total)s AS score
    FROM (
        SELECT tenant_id, id, agent_id, user_id, role, conversation_id, occurred_at,
               created_at, embedding_model, content_tsv
        FROM conversation_embeddings WHERE tenant_id = %(tenant_id)s AND id = ANY(%(ids)s)
        OFFSET 0
    ) AS candidate
    WHERE {where}
    """
)
# Whether the scope holds more turns than the window: counted on the scope index, up to one
# more than the window.
_BEYOND_WINDOW = sql.SQL(
    """
    SELECT count(*) > %(window)s AS beyond FROM (
        SELECT 1 FROM conversation_embeddings WHERE {where} LIMIT %(window)s + 1
    ) AS scope_turns
    """
)


@dataclass(frozen=True)
class KeywordMatches:
    """Turns by keyword coverage, best first; ``window`` when the scope holds more turns than
    the most recent ``window`` searched (None: every turn of the scope was searched)."""

    matches: list[tuple[Ref, float]]
    window: int | None = None
    weights: dict[str, float] = field(default_factory=dict)  # each query lexeme's idf


def keyword_matches(
    tx: TenantConnection, scope: Scope, query: str, limit: int, window: int
) -> KeywordMatches:
    """The scope's most recent ``window`` turns sharing lexemes with ``query``, by the share
    of the query's idf weight they hold (in [0, 1]), best first."""
    where, params = scope.where(tx)
    params |= {"query": query, "limit": limit, "window": window}
    conn = tx.conn
    with conn.pipeline():  # both statements in one round trip
        found = conn.execute(_KEYWORD_MATCHES.format(where=where), params)
        beyond = conn.execute(_BEYOND_WINDOW.format(where=where), params)
    rows, counted = found.fetchall(), beyond.fetchone()
    matches = [((r["id"], r["user_id"]), float(r["score"])) for r in rows if r["id"] is not None]
    weights = dict(zip(rows[0]["lexemes"] or [], rows[0]["idfs"] or [], strict=True))
    return KeywordMatches(matches, window if counted and counted["beyond"] else None, weights)


def coverage(
    tx: TenantConnection, scope: Scope, ids: Sequence[UUID], weights: dict[str, float]
) -> dict[Ref, float]:
    """The keyword coverage of the turns ``ids`` in scope, by the lexemes' ``weights``."""
    total = sum(weights.values())
    if not ids or total <= 0:
        return {}
    where, params = scope.where(tx)
    params |= {"ids": list(ids), "lexemes": list(weights), "idfs": list(weights.values())}
    params["total"] = total
    rows = tx.conn.execute(_COVERAGE.format(where=where), params).fetchall()
    return {(r["id"], r["user_id"]): float(r["score"]) for r in rows if r["score"] > 0}
