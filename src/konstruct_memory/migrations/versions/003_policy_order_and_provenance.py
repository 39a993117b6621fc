"""Fix the measured problems of 002: tenant policy, turn order, threads, provenance, Citus key.

Revision ID: 003
Revises: 002
Create Date: 2026-11-23

* The policy reads ``NULLIF(current_setting('app.current_tenant', true), '')::uuid``: a pooled
  connection that once held a tenant reads the setting back as ``''``, which 002 cast to uuid
  and so failed every query. No tenant now means no rows, and ``WITH CHECK`` refuses inserts.
* ``occurred_at`` (caller-supplied, default ``clock_timestamp()``) and ``seq`` (an identity, so
  monotonic) order turns; ``created_at`` is one ``NOW()`` per transaction and cannot order a
  batch. It stays as the audit time. The scope index now follows the new order.
* ``conversation_id`` groups turns into threads; ``embedding_model`` records which model made
  each vector, so a search only compares vectors of one model. Rows stored before this revision
  are recorded as the platform's original 384-d model.
* ``role`` is constrained to 'user' / 'assistant'.
* The primary key becomes ``(tenant_id, id)``, as Citus needs to distribute by tenant.
"""

from __future__ import annotations

from alembic import op

from konstruct_memory.migrations import blocks

revision: str = "003"
down_revision: str | None = "002"


def upgrade() -> None:
    op.execute("DROP POLICY tenant_isolation ON conversation_embeddings")
    op.execute(blocks.tenant_policy("conversation_embeddings", indent=" " * 8))

    op.execute("ALTER TABLE conversation_embeddings ADD COLUMN occurred_at timestamptz")
    # FORCE applies RLS to the owner too, so with no tenant set this UPDATE would see no rows.
    # Lifting it inside this migration's transaction is invisible to every other session.
    op.execute("ALTER TABLE conversation_embeddings NO FORCE ROW LEVEL SECURITY")
    op.execute("UPDATE conversation_embeddings SET occurred_at = created_at")
    op.execute("ALTER TABLE conversation_embeddings FORCE ROW LEVEL SECURITY")
    op.execute(
        """
        ALTER TABLE conversation_embeddings
            ALTER COLUMN occurred_at SET DEFAULT clock_timestamp(),
            ALTER COLUMN occurred_at SET NOT NULL,
            ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY,
            ADD COLUMN conversation_id text,
            ADD COLUMN embedding_model text NOT NULL
                DEFAULT 'sentence-transformers/all-MiniLM-L6-v2',
            ADD CONSTRAINT conversation_embeddings_role_check
                CHECK (role IN ('user', 'assistant'))
        """
    )
    # The default only fills the rows that predate this revision; new rows must say.
    op.execute("ALTER TABLE conversation_embeddings ALTER COLUMN embedding_model DROP DEFAULT")
    op.execute(
        "COMMENT ON COLUMN conversation_embeddings.occurred_at IS "
        "'When the turn was said (caller-supplied, default insert time); orders turns with seq'"
    )
    op.execute(
        "COMMENT ON COLUMN conversation_embeddings.seq IS "
        "'Monotonic tie-breaker for turns with the same occurred_at'"
    )
    op.execute(
        "COMMENT ON COLUMN conversation_embeddings.conversation_id IS "
        "'Optional thread identifier (e.g. a Slack thread ts)'"
    )
    op.execute(
        "COMMENT ON COLUMN conversation_embeddings.embedding_model IS "
        "'Model that produced embedding; vectors are compared only within one model'"
    )

    op.execute("ALTER TABLE conversation_embeddings DROP CONSTRAINT conversation_embeddings_pkey")
    op.execute("ALTER TABLE conversation_embeddings ADD PRIMARY KEY (tenant_id, id)")

    op.execute("DROP INDEX ix_conv_embed_tenant_agent_user_time")
    op.execute(
        """
        CREATE INDEX ix_conv_embed_scope_order ON conversation_embeddings
            (tenant_id, agent_id, user_id, occurred_at DESC, seq DESC)
        """
    )


def downgrade() -> None:
    # 002's primary key is the id alone; ids are only unique per tenant since this revision.
    # (FORCE would hide every row from this check, so it is lifted inside the transaction.)
    op.execute("ALTER TABLE conversation_embeddings NO FORCE ROW LEVEL SECURITY")
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM conversation_embeddings GROUP BY id HAVING count(*) > 1) THEN
                RAISE EXCEPTION 'cannot downgrade below 003: some turn ids are used by more '
                    'than one tenant, and 002 requires ids unique across tenants';
            END IF;
        END
        $$
        """
    )
    op.execute("ALTER TABLE conversation_embeddings FORCE ROW LEVEL SECURITY")
    op.execute("DROP INDEX ix_conv_embed_scope_order")
    op.execute(
        """
        CREATE INDEX ix_conv_embed_tenant_agent_user_time ON conversation_embeddings
            (tenant_id, agent_id, user_id, created_at DESC)
        """
    )
    op.execute("ALTER TABLE conversation_embeddings DROP CONSTRAINT conversation_embeddings_pkey")
    op.execute("ALTER TABLE conversation_embeddings ADD PRIMARY KEY (id)")
    op.execute(
        """
        ALTER TABLE conversation_embeddings
            DROP CONSTRAINT conversation_embeddings_role_check,
            DROP COLUMN embedding_model,
            DROP COLUMN conversation_id,
            DROP COLUMN seq,
            DROP COLUMN occurred_at
        """
    )
    op.execute("DROP POLICY tenant_isolation ON conversation_embeddings")
    op.execute(
        """
        CREATE POLICY tenant_isolation ON conversation_embeddings
        USING (tenant_id = current_setting('app.current_tenant', TRUE)::uuid)
        """
    )
