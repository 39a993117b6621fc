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

revision: str = "005"
down_revision: str | None = "004"
branch_labels = None
depends_on = None


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
    op.execute("ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE api_keys FORCE ROW LEVEL SECURITY")
    op.execute(
        """
        CREATE POLICY tenant_isolation ON api_keys
        USING (tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid)
        WITH CHECK (tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid)
        """
    )
    op.execute("CREATE POLICY owner_administers ON api_keys TO CURRENT_USER USING (true)")
    op.execute(
        """
        CREATE FUNCTION konstruct_authenticate(presented_hash bytea) RETURNS uuid
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $$
            SELECT tenant_id FROM public.api_keys
            WHERE key_hash = presented_hash AND revoked_at IS NULL
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION konstruct_authenticate(bytea) FROM PUBLIC")
    op.execute("GRANT EXECUTE ON FUNCTION konstruct_authenticate(bytea) TO konstruct_app")


def downgrade() -> None:
    op.execute("DROP FUNCTION konstruct_authenticate(bytea)")
    op.execute("DROP TABLE api_keys")
