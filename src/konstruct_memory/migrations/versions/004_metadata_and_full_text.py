"""Turn metadata and full-text search.

Revision ID: 004
Revises: 003
Create Date: 2026-11-23

* ``metadata jsonb``: caller-supplied attributes of a turn (channel, message ids, …).
* ``content_tsv``: a stored, generated ``tsvector`` of the content and a GIN index over it, so
  recall can fuse keyword relevance with vector similarity. Names, numbers and rare words that
  the 384-d model blurs are found by their lexemes. The ``english`` configuration stems words
  and drops stop words; it is fixed here because a generated column's expression must be
  immutable.
"""

from __future__ import annotations

from alembic import op

revision: str = "004"
down_revision: str | None = "003"


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE conversation_embeddings
            ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
            ADD COLUMN content_tsv tsvector
                GENERATED ALWAYS AS (to_tsvector('english'::regconfig, content)) STORED
        """
    )
    op.execute(
        "COMMENT ON COLUMN conversation_embeddings.metadata IS "
        "'Caller-supplied attributes of the turn (JSON object)'"
    )
    op.execute(
        "CREATE INDEX ix_conv_embed_content_tsv ON conversation_embeddings USING gin (content_tsv)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_conv_embed_content_tsv")
    op.execute("ALTER TABLE conversation_embeddings DROP COLUMN content_tsv, DROP COLUMN metadata")
