"""A tenant's request rate limit.

Revision ID: 008
Revises: 007
Create Date: 2026-11-29

``rate_limit_per_s`` (null: no limit) caps the requests a tenant's keys may make per second on
the HTTP API and ``/mcp`` (a token bucket per process, bursts of one second). The service
learns it when it authenticates a key: ``konstruct_authenticate`` returns it with the key's
principal, so a change takes effect with the next request and costs no extra query.
"""

from __future__ import annotations

from alembic import op

from konstruct_memory.migrations import blocks

revision: str = "008"
down_revision: str | None = "007"

_AUTHENTICATE = """
CREATE FUNCTION konstruct_authenticate(presented_hash bytea)
RETURNS TABLE (key_id uuid, tenant_id uuid, agent_id uuid, user_id text, scopes text[]{extra})
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k.id, k.tenant_id, k.agent_id, k.user_id, k.scopes{select}
    FROM public.api_keys k{join}
    WHERE k.key_hash = presented_hash AND k.revoked_at IS NULL
$$
"""


def _replace_authenticate(**parts: str) -> None:
    blocks.replace_authenticate(_AUTHENTICATE.format(**parts))


def upgrade() -> None:
    op.execute(
        "ALTER TABLE tenants ADD COLUMN rate_limit_per_s real "
        "CHECK (rate_limit_per_s > 0 AND rate_limit_per_s <= 100000)"
    )
    _replace_authenticate(
        extra=", rate_limit_per_s real",
        select=", t.rate_limit_per_s",
        join=" JOIN public.tenants t ON t.id = k.tenant_id",
    )


def downgrade() -> None:
    _replace_authenticate(extra="", select="", join="")
    op.execute("ALTER TABLE tenants DROP COLUMN rate_limit_per_s")
