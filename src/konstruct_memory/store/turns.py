"""Writing turns and reading them back in order: insert, by id, history, and the scopes that
hold them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.rows import args_row
from psycopg.types.json import Jsonb

from konstruct_memory.db.tenant import TenantConnection
from konstruct_memory.embed import Vectors
from konstruct_memory.operations import Turn
from konstruct_memory.store.rows import ScopeRow, TurnRow, columns
from konstruct_memory.store.scope import Scope, equal_to
from konstruct_memory.store.staging import Staging

TURN_COLUMNS = columns(TurnRow)
# A turn's identity: its id within its (agent, user).
TurnKey = tuple[UUID, UUID, str]

# Batches go in through COPY into a staging table (store.staging), then one INSERT ... SELECT,
# which re-checks every row against the tenant policy.
_STAGING = Staging(
    "konstruct_staging",
    (
        ("ord", "int4"), ("id", "uuid"), ("agent_id", "uuid"), ("user_id", "text"),
        ("role", "text"), ("content", "text"), ("conversation_id", "text"),
        ("occurred_at", "timestamptz"), ("metadata", "jsonb"), ("embedding", "vector"),
    ),
)  # fmt: skip
# Rows without occurred_at get clock_timestamp() in batch order; seq follows the same order.
_INSERT_STAGED = """
INSERT INTO conversation_embeddings
    (tenant_id, id, agent_id, user_id, role, content, conversation_id, occurred_at, metadata,
     embedding, embedding_model)
SELECT %(tenant_id)s, id, agent_id, user_id, role, content, conversation_id,
       COALESCE(occurred_at, clock_timestamp()), metadata, embedding, %(embedding_model)s
FROM konstruct_staging ORDER BY ord
ON CONFLICT (tenant_id, id, agent_id, user_id) DO NOTHING
RETURNING id, agent_id, user_id
"""
# An id names one turn per (agent, user) (migration 012): the same id may name turns of other
# scopes, which only a read over them may see.
_BY_IDS = sql.SQL(
    "SELECT {columns} FROM conversation_embeddings WHERE tenant_id = %(tenant_id)s "
    "AND id = ANY(%(ids)s) {scope} ORDER BY seq"
)
_IN_SCOPE = {
    "agent_id": sql.SQL("AND agent_id = %(agent_id)s"),
    "user_id": sql.SQL("AND user_id = %(user_id)s"),
}

_METADATA = sql.SQL(
    "SELECT id, user_id, metadata FROM conversation_embeddings WHERE {where} AND id = ANY(%(ids)s)"
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
    "WHERE tenant_id = %(tenant_id)s AND id = %(before)s AND agent_id = %(agent_id)s "
    "AND user_id = %(user_id)s)"
)
# The listing reads the per-scope summaries that triggers keep beside the turns (migration
# 015), through their key and in its order: a page costs the same whatever the tenant's size.
_SCOPES = sql.SQL(
    """
    SELECT agent_id, user_id, conversation_id, turns, first_occurred_at, last_occurred_at
    FROM scope_summaries
    WHERE {where}
    ORDER BY agent_id, user_id, conversation_id NULLS FIRST
    LIMIT %(limit)s OFFSET %(offset)s
    """
)
_CURSOR_EXISTS = sql.SQL("SELECT 1 FROM conversation_embeddings WHERE {where} AND id = %(before)s")


def key_of(row: TurnRow) -> TurnKey:
    return row.id, row.agent_id, row.user_id


def turns_with_ids(
    tx: TenantConnection,
    ids: Sequence[UUID],
    agent_id: UUID | None = None,
    user_id: str | None = None,
) -> list[TurnRow]:
    """The turns with these ids, of one agent and one user if given, oldest first: without
    both, one id may name turns of several scopes."""
    given = {"agent_id": agent_id, "user_id": user_id}
    scope = sql.SQL(" ").join(_IN_SCOPE[name] for name, value in given.items() if value is not None)
    query = _BY_IDS.format(columns=TURN_COLUMNS, scope=scope)
    with tx.conn.cursor(row_factory=args_row(TurnRow)) as cur:
        return cur.execute(query, tx.params(ids=list(ids), **given)).fetchall()


def turns_by_keys(tx: TenantConnection, keys: Iterable[TurnKey]) -> dict[TurnKey, TurnRow]:
    """The stored turns among ``keys`` ((id, agent, user) each), by key."""
    wanted = set(keys)
    if not wanted:
        return {}
    rows = turns_with_ids(tx, sorted({turn_id for turn_id, _, _ in wanted}, key=str))
    return {key_of(row): row for row in rows if key_of(row) in wanted}


def metadata_of(
    tx: TenantConnection, scope: Scope, refs: Sequence[tuple[UUID, str]]
) -> dict[tuple[UUID, str], Any]:
    """The metadata of ``refs`` ((id, user) pairs of turns in ``scope``: a recall's hits,
    decoded for the few returned, not for every candidate ranked)."""
    if not refs:
        return {}
    where, params = scope.where(tx)
    params["ids"] = list({turn_id for turn_id, _ in refs})
    rows = tx.conn.execute(_METADATA.format(where=where), params).fetchall()
    return {(row["id"], row["user_id"]): row["metadata"] for row in rows}


def insert_turns(
    tx: TenantConnection,
    embedding_model: str,
    turns: Sequence[tuple[UUID, Turn]],
    vectors: Vectors | None,
) -> set[TurnKey]:
    """Insert in order; returns the keys of the turns actually inserted (a turn whose id its
    agent and user already hold is skipped). Without ``vectors`` the rows keep none of their
    own: the tenant's vectors are beside the turns (``store.models``)."""
    if not turns:
        return set()
    _STAGING.copy(
        tx,
        (
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
                vectors[ord_] if vectors is not None else None,
            )
            for ord_, (turn_id, turn) in enumerate(turns)
        ),
    )
    params = tx.params(embedding_model=embedding_model)
    rows = tx.conn.execute(_INSERT_STAGED, params).fetchall()
    return {(row["id"], row["agent_id"], row["user_id"]) for row in rows}


def history(tx: TenantConnection, scope: Scope, limit: int, before: UUID | None) -> list[TurnRow]:
    """The newest ``limit`` turns in scope older than ``before`` (a turn id), newest first.

    Check ``cursor_exists`` first: an unknown cursor would silently give an empty page."""
    where, params = scope.where(tx)
    params |= {"limit": limit, "before": before}
    query = _HISTORY.format(
        columns=TURN_COLUMNS, where=where, before=_BEFORE if before is not None else sql.SQL("")
    )
    with tx.conn.cursor(row_factory=args_row(TurnRow)) as cur:
        return cur.execute(query, params).fetchall()


def cursor_exists(tx: TenantConnection, scope: Scope, before: UUID) -> bool:
    where, params = scope.where(tx)
    params["before"] = before
    return tx.conn.execute(_CURSOR_EXISTS.format(where=where), params).fetchone() is not None


def scopes(
    tx: TenantConnection, agent_id: UUID | None, user_id: str | None, limit: int, offset: int
) -> list[ScopeRow]:
    """The (agent, user, conversation) scopes that hold turns of the tenant, with their turn
    counts and first and last times, from their summaries."""
    parts, params = equal_to(agent_id=agent_id, user_id=user_id)
    query = _SCOPES.format(
        where=sql.SQL(" AND ").join([sql.SQL("tenant_id = %(tenant_id)s"), *parts])
    )
    with tx.conn.cursor(row_factory=args_row(ScopeRow)) as cur:
        return cur.execute(query, tx.params(limit=limit, offset=offset, **params)).fetchall()
