"""Phase 2: conversation_embeddings table with HNSW index and RLS.

Revision ID: 002
Revises: 001
Create Date: 2026-03-23

The table of the long-term conversational memory: pgvector embeddings of past conversation
turns, for semantic similarity retrieval. This revision is the platform's original schema and is
kept exactly as first shipped, so that databases which already ran it upgrade cleanly; the
problems later measured in it are fixed by 003, not here. Its decisions:

1. pgvector is enabled (CREATE EXTENSION IF NOT EXISTS vector).
2. HNSW index, m = 16, ef_construction = 64, cosine distance (vector_cosine_ops, the <=> operator).
3. Covering index on (tenant_id, agent_id, user_id, created_at DESC) to pre-filter by scope.
4. Row-level security with FORCE: tenant isolation enforced by the database.
5. GRANT SELECT, INSERT only: turns are immutable, an append-only audit log.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from konstruct_memory.migrations import blocks

revision: str = "002"
down_revision: str | None = "001"


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")

    op.create_table(
        "conversation_embeddings",
        sa.Column(
            "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
        ),
        sa.Column(
            "tenant_id",
            UUID(as_uuid=True),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("agent_id", UUID(as_uuid=True), nullable=False),
        sa.Column(
            "user_id",
            sa.Text,
            nullable=False,
            comment="Channel-native user identifier (e.g. Slack user ID U12345)",
        ),
        sa.Column(
            "content", sa.Text, nullable=False, comment="Original message text that was embedded"
        ),
        sa.Column("role", sa.Text, nullable=False, comment="Message role: 'user' or 'assistant'"),
        blocks.created_at(),
    )
    # SQLAlchemy has no pgvector type of its own, so the vector column is raw DDL.
    op.execute("ALTER TABLE conversation_embeddings ADD COLUMN embedding vector(384) NOT NULL")

    op.create_index(
        "ix_conv_embed_tenant_agent_user_time",
        "conversation_embeddings",
        ["tenant_id", "agent_id", "user_id", "created_at"],
        postgresql_ops={"created_at": "DESC"},
    )
    op.execute(
        """
        CREATE INDEX ix_conv_embed_hnsw ON conversation_embeddings
        USING hnsw (embedding vector_cosine_ops)
        WITH (m = 16, ef_construction = 64)
        """
    )

    op.execute("ALTER TABLE conversation_embeddings ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE conversation_embeddings FORCE ROW LEVEL SECURITY")
    op.execute(
        """
        CREATE POLICY tenant_isolation ON conversation_embeddings
        USING (tenant_id = current_setting('app.current_tenant', TRUE)::uuid)
        """
    )

    op.execute("GRANT SELECT, INSERT ON conversation_embeddings TO konstruct_app")


def downgrade() -> None:
    op.execute("REVOKE ALL ON conversation_embeddings FROM konstruct_app")
    op.drop_table("conversation_embeddings")
    # The vector extension stays: other tables may use it.
