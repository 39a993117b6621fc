"""A tenant's embedding models (migration 017): which one its reads use, the one a switch in
progress also writes, and the vectors kept beside the turns (``turn_vectors``).

A turn's row never changes; a model other than the one its own column was written with has its
vectors here, keyed by the turn's key and the model. Writes and the switch's flip meet on one
transaction-level advisory lock per tenant: every write takes it shared and then reads the
tenant's models, the switch takes it exclusively to start and to flip. So a write either
commits before the switch starts (and the switch's scan finds its turns) or sees the switch
and writes the target's vectors too; and no write is in flight when the flip checks that every
turn has a vector of the target.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from konstruct_memory.db.tenant import TenantConnection
from konstruct_memory.embed import Vectors
from konstruct_memory.store.staging import Staging

# A turn's identity, as in store.turns: its id within its (agent, user).
TurnKey = tuple[UUID, UUID, str]


@dataclass(frozen=True)
class TenantModels:
    """A tenant's row of ``tenant_models``; the default stands for a tenant that never switched."""

    reads_model: str | None = None  # None: the configured model, in the turns' own column
    reads_path: str | None = None  # where a local model's files are, for processes to load it
    target_model: str | None = None  # a switch in progress writes this model's vectors too
    target_path: str | None = None


NEVER_SWITCHED = TenantModels()

_LOCK_KEY = "hashtextextended('konstruct_memory.model_switch:' || %(tenant_id)s::text, 0)"
_SHARE = sql.SQL("SELECT pg_advisory_xact_lock_shared({key})").format(key=sql.SQL(_LOCK_KEY))
_EXCLUSIVE = sql.SQL("SELECT pg_advisory_xact_lock({key})").format(key=sql.SQL(_LOCK_KEY))
_STATE = """
SELECT reads_model, reads_path, target_model, target_path
FROM tenant_models WHERE tenant_id = %(tenant_id)s
"""

# Owner connection, the tenant set for the transaction (turns are read under its policy).
_START = """
INSERT INTO tenant_models (tenant_id, target_model, target_path, switch_started_at)
VALUES (%(tenant_id)s, %(model)s, %(path)s, clock_timestamp())
ON CONFLICT (tenant_id) DO UPDATE
SET target_model = EXCLUDED.target_model, target_path = EXCLUDED.target_path,
    switch_started_at = EXCLUDED.switch_started_at
"""
_FLIP = """
UPDATE tenant_models
SET reads_model = target_model, reads_path = target_path, target_model = NULL,
    target_path = NULL, flipped_at = clock_timestamp()
WHERE tenant_id = %(tenant_id)s AND target_model = %(model)s
"""

_LACKING = """
NOT EXISTS (SELECT 1 FROM turn_vectors v
            WHERE v.tenant_id = t.tenant_id AND v.id = t.id AND v.agent_id = t.agent_id
              AND v.user_id = t.user_id AND v.embedding_model = %(model)s)
"""
# The turns without a vector of the model, in the order of the tenant's time index.
_TO_EMBED = sql.SQL(
    """
    SELECT t.id, t.agent_id, t.user_id, t.content, t.occurred_at, t.seq
    FROM conversation_embeddings t
    WHERE t.tenant_id = %(tenant_id)s AND (t.occurred_at, t.seq) > (%(at)s, %(seq)s)
      AND {lacking}
    ORDER BY t.occurred_at, t.seq LIMIT %(limit)s
    """
).format(lacking=sql.SQL(_LACKING))
_COUNT_LACKING = sql.SQL(
    "SELECT count(*) AS n FROM conversation_embeddings t "
    "WHERE t.tenant_id = %(tenant_id)s AND {lacking}"
).format(lacking=sql.SQL(_LACKING))
# Every model some vector of the tenant is of (a scan of the tenant: an operator's command).
_MODELS_HELD = """
SELECT DISTINCT embedding_model FROM conversation_embeddings
WHERE tenant_id = %(tenant_id)s AND embedding IS NOT NULL
UNION
SELECT DISTINCT embedding_model FROM turn_vectors WHERE tenant_id = %(tenant_id)s
"""

# As the turns' batch, through a staging table (store.staging).
_STAGING = Staging(
    "konstruct_vector_staging",
    (("id", "uuid"), ("agent_id", "uuid"), ("user_id", "text"), ("embedding", "vector")),
)
# The columns reads filter on are the turn's, copied from its row; a vector already stored
# (a concurrent write of the same turn, a resumed switch) is kept.
_INSERT_STAGED = """
INSERT INTO turn_vectors
    (tenant_id, id, agent_id, user_id, embedding_model, embedding, role, conversation_id,
     occurred_at, created_at, seq)
SELECT t.tenant_id, t.id, t.agent_id, t.user_id, %(model)s, s.embedding, t.role,
       t.conversation_id, t.occurred_at, t.created_at, t.seq
FROM konstruct_vector_staging s
JOIN conversation_embeddings t
  ON t.tenant_id = %(tenant_id)s AND t.id = s.id AND t.agent_id = s.agent_id
 AND t.user_id = s.user_id
ON CONFLICT (tenant_id, id, agent_id, user_id, embedding_model) DO NOTHING
"""

_INDEX = sql.SQL(
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON turn_vectors "
    "USING hnsw (embedding vector_cosine_ops) WITH (m = 32, ef_construction = 128) "
    "WHERE embedding_model = {model}"
)
_INDEX_VALID = """
SELECT i.indisvalid AS valid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
WHERE c.relname = %(name)s
"""
_DROP_INDEX = sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {name}")


@dataclass(frozen=True)
class Pending:
    """A turn the switch has still to embed, and where the scan goes on from."""

    key: TurnKey
    content: str
    position: tuple[Any, int]  # (occurred_at, seq)


def state(tx: TenantConnection) -> TenantModels:
    """The tenant's models, as the transaction sees them."""
    row = tx.conn.execute(_STATE, tx.params()).fetchone()
    return NEVER_SWITCHED if row is None else TenantModels(**row)


def state_for_write(tx: TenantConnection) -> TenantModels:
    """The tenant's models for a write: read after taking the switch's lock shared, so the
    switch cannot start or flip until this transaction ends. Two statements in one round trip
    (the read needs a snapshot taken after the lock is held)."""
    conn = tx.conn
    with conn.pipeline():
        conn.execute(_SHARE, tx.params())
        read = conn.execute(_STATE, tx.params())
    row = read.fetchone()
    return NEVER_SWITCHED if row is None else TenantModels(**row)


def lock_exclusive(tx: TenantConnection) -> None:
    """Wait for the tenant's writes in flight, and hold new ones until the transaction ends."""
    tx.conn.execute(_EXCLUSIVE, tx.params())


def start(tx: TenantConnection, model: str, path: str | None) -> None:
    """Record the switch's target (the owner's connection, under the exclusive lock)."""
    tx.conn.execute(_START, tx.params(model=model, path=path))


def flip(tx: TenantConnection, model: str) -> bool:
    """Reads use ``model`` from now on (the owner's connection, under the exclusive lock);
    False if it was not the target."""
    return tx.conn.execute(_FLIP, tx.params(model=model)).rowcount == 1


def lacking(tx: TenantConnection, model: str) -> int:
    """How many of the tenant's turns have no vector of ``model``."""
    row = tx.conn.execute(_COUNT_LACKING, tx.params(model=model)).fetchone()
    return int(row["n"]) if row is not None else 0


def to_embed(tx: TenantConnection, model: str, after: tuple[Any, int], limit: int) -> list[Pending]:
    """Up to ``limit`` turns after ``after`` ((occurred_at, seq)) with no vector of ``model``."""
    params = tx.params(model=model, at=after[0], seq=after[1], limit=limit)
    rows = tx.conn.execute(_TO_EMBED, params).fetchall()
    return [
        Pending((r["id"], r["agent_id"], r["user_id"]), r["content"], (r["occurred_at"], r["seq"]))
        for r in rows
    ]


def models_held(tx: TenantConnection) -> set[str]:
    """Every model the tenant holds vectors of (its turns' own column and beside them)."""
    return {r["embedding_model"] for r in tx.conn.execute(_MODELS_HELD, tx.params()).fetchall()}


def insert_vectors(
    tx: TenantConnection, model: str, keys: Sequence[TurnKey], vectors: Vectors
) -> None:
    """Store ``vectors[i]`` as the vector of ``model`` for the stored turn ``keys[i]``."""
    if not keys:
        return
    _STAGING.copy(tx, ((*key, vector) for key, vector in zip(keys, vectors, strict=True)))
    tx.conn.execute(_INSERT_STAGED, tx.params(model=model))


def index_name(model: str) -> str:
    """The partial HNSW index of one model's vectors (names are ASCII, models need not be)."""
    return "ix_turn_vectors_hnsw_" + hashlib.sha256(model.encode()).hexdigest()[:16]


def ensure_index(conn: psycopg.Connection[Any], model: str) -> None:
    """Build the model's HNSW index unless it exists (owner connection, autocommit): a build
    that was interrupted leaves an invalid index, which is dropped and built again."""
    name = sql.Identifier(index_name(model))
    row = conn.execute(_INDEX_VALID, {"name": index_name(model)}).fetchone()
    if row is not None and not row["valid"]:
        conn.execute(_DROP_INDEX.format(name=name))
    conn.execute(_INDEX.format(name=name, model=sql.Literal(model)))
