"""Phase 1: tenants table and the konstruct_app role.

Revision ID: 001
Revises:
Create Date: 2026-03-23

``konstruct_app`` is the group role whose rights the running service holds; 002 grants it
SELECT and INSERT on the turns table. Roles are cluster-wide, so it is created only if missing
and left in place on downgrade (other databases on the cluster, and login roles that are members
of it, may still use it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from konstruct_memory.migrations import blocks

revision: str = "001"
down_revision: str | None = None


def upgrade() -> None:
    op.execute(
        """
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'konstruct_app') THEN
                CREATE ROLE konstruct_app NOLOGIN;
            END IF;
        END
        $$
        """
    )
    op.create_table(
        "tenants",
        sa.Column(
            "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
        ),
        sa.Column("name", sa.Text, nullable=False),
        blocks.created_at(),
    )
    # The service checks at start that the schema is at the revision its code expects.
    op.execute("GRANT SELECT ON alembic_version TO konstruct_app")


def downgrade() -> None:
    op.execute("REVOKE ALL ON alembic_version FROM konstruct_app")
    op.drop_table("tenants")
