"""Tenant API keys.

Revision ID: 005
Revises: 004
Create Date: 2026-11-23

Keys are random and stored only as SHA-256 hashes. The runtime role gets no rights on the
table: it authenticates a presented key through ``konstruct_authenticate(hash)``, a SECURITY
DEFINER function that answers only the tenant of a live key, so a compromised service cannot
list or read keys. Creating and revoking keys is tenant administration: the owner's job.

The table holds ``tenant_id`` and so gets the same forced tenant policy as the turns; a second
policy lets the owner (who runs the lookup function and administers keys) see every key.
"""

from __future__ import annotations

from alembic import op

from konstruct_memory.migrations import blocks

revision: str = "005"
down_revision: str | None = "004"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE api_keys (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            key_hash bytea NOT NULL UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz
        )
        """
    )
    op.execute("CREATE INDEX ix_api_keys_tenant ON api_keys (tenant_id)")
    blocks.confine_to_tenant("api_keys", indent=" " * 8)
    op.execute("CREATE POLICY owner_administers ON api_keys TO CURRENT_USER USING (true)")
    op.execute(blocks.margin(blocks.FIRST_AUTHENTICATE, indent=" " * 8))
    blocks.callable_by_runtime("konstruct_authenticate(bytea)")


def downgrade() -> None:
    op.execute("DROP FUNCTION konstruct_authenticate(bytea)")
    op.execute("DROP TABLE api_keys")
