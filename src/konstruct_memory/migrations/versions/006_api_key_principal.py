"""An API key is a principal: its id, scopes and optional agent and user binding.

Revision ID: 006
Revises: 005
Create Date: 2026-11-29

Authentication now answers who acted, not only for which tenant: ``konstruct_authenticate``
returns the key's id, tenant, scopes (``read``, ``write``, ``erase``) and the agent and user
it is bound to, if any. Existing keys keep what they could do: read and write, unbound.
"""

from __future__ import annotations

from alembic import op

from konstruct_memory.migrations import blocks

revision: str = "006"
down_revision: str | None = "005"


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE api_keys
            ADD COLUMN name text CHECK (char_length(name) BETWEEN 1 AND 200),
            ADD COLUMN agent_id uuid,
            ADD COLUMN user_id text CHECK (char_length(user_id) BETWEEN 1 AND 256),
            ADD COLUMN scopes text[] NOT NULL DEFAULT ARRAY['read', 'write']
                CHECK (cardinality(scopes) > 0
                       AND scopes <@ ARRAY['read', 'write', 'erase']::text[])
        """
    )
    op.execute("DROP FUNCTION konstruct_authenticate(bytea)")
    op.execute(
        """
        CREATE FUNCTION konstruct_authenticate(presented_hash bytea)
        RETURNS TABLE (key_id uuid, tenant_id uuid, agent_id uuid, user_id text, scopes text[])
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $$
            SELECT k.id, k.tenant_id, k.agent_id, k.user_id, k.scopes FROM public.api_keys k
            WHERE k.key_hash = presented_hash AND k.revoked_at IS NULL
        $$
        """
    )
    blocks.callable_by_runtime("konstruct_authenticate(bytea)")


def downgrade() -> None:
    blocks.replace_authenticate(blocks.margin(blocks.FIRST_AUTHENTICATE))
    op.execute(
        "ALTER TABLE api_keys DROP COLUMN name, DROP COLUMN agent_id, DROP COLUMN user_id, "
        "DROP COLUMN scopes"
    )
