"""Keyword matches: the turns of a scope sharing words with the query, weighted by rarity.

Every statement names ``tenant_id`` explicitly although row-level security filters by it too
(see ``store.search``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from psycopg import sql

from konstruct_memory.db.tenant import TenantConnection
from konstruct_memory.store.scope import Scope, equal_to
from konstruct_memory.store.search import Ref

# Keyword relevance on a fixed scale: the share of the query's idf weight that a turn holds.
# Each query lexeme weighs its inverse document frequency within the scope (BM25's idf, which
# PostgreSQL's ts_rank lacks), lexemes no turn holds included; a turn scores the weights of the
# lexemes it holds over the query's total, in [0, 1].
#
# A scope of up to ``exact_turns`` turns is searched by reading them: every turn searched is
# read and tested, for row-level security leaves the GIN index unused (``@@`` is not leakproof,
# so PostgreSQL may not test it before the tenant policy). The filters apply to the turns
# counted as well as to those matched.
_EXACT_MATCHES = sql.SQL(
    """
    WITH searched AS MATERIALIZED (
        SELECT id, user_id, content_tsv FROM conversation_embeddings WHERE {where}
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
        SELECT terms.lexeme, terms.q, true AS searched,
               ln(1 + (total.n - df.n + 0.5) / (df.n + 0.5)) AS idf
        FROM terms CROSS JOIN total
        CROSS JOIN LATERAL (
            SELECT count(*)::float8 AS n FROM matches WHERE matches.content_tsv @@ terms.q
        ) AS df
    )
    """
)
# A larger scope is searched through its postings (migration 018: one row per turn and lexeme,
# a B-tree whose text equality row-level security lets the planner use). Each query lexeme's
# turns in the scope are counted on the index alone, up to ``count_cap`` + 1; the scope's size
# is the sum of its summaries (migration 015). The postings of the rarest lexemes are read,
# while they add up to at most ``postings``: the commoner lexemes are pruned (a lexeme counted
# past the cap weighs as if held by ``count_cap`` turns, the most its idf can be), and their
# weight stays in the query's total, so a score keeps its fixed scale. The turns found are
# ranked by the weight of the searched lexemes they hold, on the postings alone; the best
# ``limit`` that pass the filters are read by primary key (in that order, so the read stops
# there: reading every turn found, scattered over the table, cost more than the window did) and
# scored by every lexeme they hold, pruned ones included. The weights are those of the scope
# (the agent's turns with the user, or with every user), whatever the recall's thread, time,
# role and as_of filters: the postings carry none of those columns.
_POSTINGS_MATCHES = sql.SQL(
    """
    WITH terms AS MATERIALIZED (
        SELECT DISTINCT t.lexeme, to_tsquery('simple', quote_literal(t.lexeme)) AS q
        FROM unnest(to_tsvector('english', %(query)s)) AS t(lexeme, positions, weights)
    ), counted AS MATERIALIZED (
        SELECT terms.lexeme, terms.q, held.n AS df,
               sum(held.n) OVER (ORDER BY held.n, terms.lexeme) AS running
        FROM terms CROSS JOIN LATERAL (
            SELECT count(*)::float8 AS n FROM (
                SELECT 1 FROM keyword_postings p
                WHERE p.tenant_id = %(tenant_id)s AND p.agent_id = %(agent_id)s
                  AND p.lexeme = terms.lexeme {user}
                LIMIT %(count_cap)s + 1
            ) AS held_turns
        ) AS held
    ), weights AS MATERIALIZED (
        SELECT lexeme, q, running <= %(postings)s AS searched,
               ln(1 + (%(scope_turns)s - least(df, %(count_cap)s) + 0.5)
                      / (least(df, %(count_cap)s) + 0.5)) AS idf
        FROM counted
    ), found AS MATERIALIZED (  -- each turn found, by the weight of the searched lexemes
        SELECT p.user_id, p.turn_id, sum(weights.idf) AS searched_weight
        FROM weights JOIN keyword_postings p
          ON p.tenant_id = %(tenant_id)s AND p.agent_id = %(agent_id)s
         AND p.lexeme = weights.lexeme {user}
        WHERE weights.searched
        GROUP BY p.user_id, p.turn_id
    ), matches AS MATERIALIZED (
        SELECT turn.id, turn.user_id, turn.content_tsv
        FROM (
            SELECT user_id, turn_id, searched_weight FROM found
            ORDER BY searched_weight DESC, turn_id, user_id
        ) AS best
        CROSS JOIN LATERAL (
            SELECT id, user_id, content_tsv FROM conversation_embeddings
            WHERE {where} AND id = best.turn_id AND user_id = best.user_id
        ) AS turn
        ORDER BY best.searched_weight DESC, best.turn_id, best.user_id
        LIMIT %(limit)s
    )
    """
)
# What both searches return: always one row at least (the weights, even when no turn matches),
# and the matches best first.
_RANKED = sql.SQL(
    """
    SELECT hit.id, hit.user_id, hit.score, every.lexemes, every.idfs, every.pruned
    FROM (
        SELECT array_agg(lexeme ORDER BY lexeme) AS lexemes, array_agg(idf ORDER BY lexeme) AS idfs,
               array_agg(lexeme ORDER BY lexeme) FILTER (WHERE NOT searched) AS pruned
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
# The scope's turns by its summaries: the agent's with the user (or with every user), and of
# those the thread's if the recall names one (which is what the exact search would read).
_SCOPE_SIZE = sql.SQL(
    """
    SELECT coalesce(sum(turns), 0) AS scope_turns,
           coalesce(sum(turns) FILTER (WHERE {thread}), 0) AS searched_turns
    FROM scope_summaries WHERE {where}
    """
)
# The coverage of given turns in scope, by the weights of a pruned keyword stage: a vector
# candidate holding only pruned lexemes holds the query's words all the same, and without its
# coverage the turns found by rarer words would outrank it. Found by primary key behind an
# OFFSET 0 fence, as the candidates are.
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


@dataclass(frozen=True)
class KeywordBounds:
    """What bounds the keyword stage's work, whatever the scope's size."""

    exact_turns: int  # a scope of up to this many turns is read whole
    postings: int  # in a larger one, at most this many postings of the rarest lexemes are read
    common_share: float  # a lexeme's turns are counted up to this share of the scope


@dataclass(frozen=True)
class KeywordMatches:
    """Turns by keyword coverage, best first, and each query lexeme's idf. ``pruned``: the
    lexemes whose turns were not searched (held by too many of a large scope's turns), None
    when every lexeme's were."""

    matches: list[tuple[Ref, float]]
    weights: dict[str, float] = field(default_factory=dict)
    pruned: list[str] | None = None


def keyword_matches(
    tx: TenantConnection, scope: Scope, query: str, limit: int, bounds: KeywordBounds
) -> KeywordMatches:
    """The turns of ``scope`` sharing lexemes with ``query``, by the share of the query's idf
    weight they hold (in [0, 1]), best first; in a scope of more than ``bounds.exact_turns``
    turns, those holding its rarer lexemes."""
    where, params = scope.where(tx)
    params |= {"query": query, "limit": limit}
    size_where, size_params = _size_where(tx, scope)
    thread = sql.SQL("conversation_id = %(conversation_id)s" if scope.conversation_id else "true")
    size = tx.conn.execute(
        _SCOPE_SIZE.format(where=size_where, thread=thread), size_params
    ).fetchone() or {"scope_turns": 0, "searched_turns": 0}  # an aggregate: always one row
    scope_turns, searched_turns = int(size["scope_turns"]), int(size["searched_turns"])
    if searched_turns <= bounds.exact_turns:
        statement = _EXACT_MATCHES.format(where=where)
    else:
        user = sql.SQL("AND p.user_id = %(user_id)s" if scope.user_id is not None else "")
        statement = _POSTINGS_MATCHES.format(where=where, user=user)
        cap = max(bounds.postings, math.ceil(bounds.common_share * scope_turns))
        params |= {"scope_turns": scope_turns, "count_cap": cap, "postings": bounds.postings}
    rows = tx.conn.execute(statement + _RANKED, params).fetchall()
    matches = [((r["id"], r["user_id"]), float(r["score"])) for r in rows if r["id"] is not None]
    weights = dict(zip(rows[0]["lexemes"] or [], rows[0]["idfs"] or [], strict=True))
    return KeywordMatches(matches, weights, rows[0]["pruned"])


def _size_where(tx: TenantConnection, scope: Scope) -> tuple[sql.Composable, dict[str, Any]]:
    parts, params = equal_to(agent_id=scope.agent_id, user_id=scope.user_id)
    params = tx.params(conversation_id=scope.conversation_id, **params)
    return sql.SQL(" AND ").join([sql.SQL("tenant_id = %(tenant_id)s"), *parts]), params


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
