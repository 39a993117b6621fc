"""The window vectors of long turns, beside the turns.

Revision ID: 013
Revises: 012
Create Date: 2026-12-02

A turn longer than the model's window is stored with one vector, the mean of its windows'
(``embed/windows.py``): its gist. A single sentence late in a long answer barely moves that
mean, so a question about it did not find it. ``turn_windows`` keeps each window's own vector
for those turns only (a turn of one window has none): recall scores a long turn by the best of
its pooled vector and its windows'. The turns table keeps one row and one vector per turn.

* The key is the turn's key and the window's number; the foreign key to the turn's row is
  ON DELETE CASCADE, so whatever removes a turn (erasure, retention: the SECURITY DEFINER
  functions of 007, 009 and 012) removes its windows in the same statement. The cascade runs
  as the table's owner, so the eraser role needs no right on this table.
* The runtime role may SELECT and INSERT only, as on turns; row-level security is forced by
  tenant with the turns' policy. Every column Citus needs is there: distributed by
  ``tenant_id`` and colocated with the turns (docs/citus.md), the foreign key stays local to a
  shard.
* A scope index (tenant, agent, user, model) serves the exact search of a scope's windows;
  the primary key serves "the windows of these turns"; an HNSW index serves scopes with more
  windows than are searched exactly (the graph of the turns' index, migration 011).
"""

from __future__ import annotations

from alembic import op

from konstruct_memory.migrations import blocks

revision: str = "013"
down_revision: str | None = "012"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE turn_windows (
            tenant_id uuid NOT NULL,
            turn_id uuid NOT NULL,
            agent_id uuid NOT NULL,
            user_id text NOT NULL,
            window_no smallint NOT NULL CHECK (window_no >= 0),
            embedding vector(384) NOT NULL,
            embedding_model text NOT NULL,
            PRIMARY KEY (tenant_id, turn_id, agent_id, user_id, window_no),
            FOREIGN KEY (tenant_id, turn_id, agent_id, user_id)
                REFERENCES conversation_embeddings (tenant_id, id, agent_id, user_id)
                ON DELETE CASCADE
        )
        """
    )
    op.execute(
        "COMMENT ON TABLE turn_windows IS "
        "'Window vectors of turns longer than the model window; the turn keeps its pooled vector'"
    )
    op.execute(
        "CREATE INDEX ix_turn_windows_scope_model ON turn_windows "
        "(tenant_id, agent_id, user_id, embedding_model)"
    )
    op.execute(
        "CREATE INDEX ix_turn_windows_hnsw ON turn_windows "
        "USING hnsw (embedding vector_cosine_ops) WITH (m = 32, ef_construction = 128)"
    )
    blocks.confine_to_tenant("turn_windows")
    op.execute("GRANT SELECT, INSERT ON turn_windows TO konstruct_app")


def downgrade() -> None:
    op.execute("REVOKE ALL ON turn_windows FROM konstruct_app")
    op.execute("DROP TABLE turn_windows")
