"""The HNSW graph: m = 32, ef_construction = 128.

Revision ID: 011
Revises: 010
Create Date: 2026-11-30

Heavy scopes (a user or an agent with more than 10,000 turns) are searched through this index.
With m = 16, ef_construction = 64 the searches found 0.92 of the exact top 10 on one million
clustered turns; with m = 32, ef_construction = 128, 0.98, at about the same size and query
time, for inserts about 1.8 times as slow while the index is in place (BENCHMARKS.md, "Heavy
scopes").

A table of up to 100,000 turns is re-indexed here (seconds). A larger one keeps its graph: a
blocking rebuild inside a migration would stop writes for minutes per million turns. There the
migration logs what to run, ``konstruct-memory vector-index build --rebuild``, which builds the
new graph beside the old one without blocking reads or writes.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision: str = "011"
down_revision: str | None = "010"

REINDEX_UP_TO_ROWS = 100_000
_CREATE = (
    "CREATE INDEX ix_conv_embed_hnsw ON conversation_embeddings "
    "USING hnsw (embedding vector_cosine_ops) WITH (m = {m}, ef_construction = {ef})"
)
_ROWS = "SELECT reltuples FROM pg_class WHERE oid = 'conversation_embeddings'::regclass"
_HAS_INDEX = "SELECT to_regclass('ix_conv_embed_hnsw') IS NOT NULL"


def _regraph(m: int, ef: int) -> None:
    bind = op.get_bind()
    if not bind.execute(sa.text(_HAS_INDEX)).scalar():
        return  # dropped for a bulk load: the load's rebuild makes the new graph
    rows = bind.execute(sa.text(_ROWS)).scalar() or 0
    if rows > REINDEX_UP_TO_ROWS:
        logging.getLogger("alembic.runtime.migration").warning(
            "conversation_embeddings holds about %d turns: its HNSW index keeps its graph. "
            "Run `konstruct-memory vector-index build --rebuild` to build the m = %d graph "
            "without blocking reads or writes.",
            rows,
            m,
        )
        return
    op.execute("DROP INDEX ix_conv_embed_hnsw")
    op.execute(_CREATE.format(m=m, ef=ef))


def upgrade() -> None:
    _regraph(32, 128)


def downgrade() -> None:
    _regraph(16, 64)
