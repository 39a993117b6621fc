"""Read replicas, a Citus-ready tenant switch, and heavy scopes.

Revision ID: 010
Revises: 009
Create Date: 2026-11-30

* ``konstruct_authenticate`` also returns the tenant's ``audit_reads``: an audited read writes
  its audit row in its own transaction, which a read-only replica cannot, so the service
  routes those reads to the primary and learns the policy with the key, at no extra cost.
* ``konstruct_reads_audited()`` answers the same for the tenant of the current transaction
  (the library's owner view, which authenticates no key).
* ``konstruct_set_tenant(tenant)`` sets ``app.current_tenant`` with SET LOCAL. Citus
  propagates SET LOCAL to the workers a transaction touches, not a ``set_config()`` call;
  ``KONSTRUCT_MEMORY_TENANT_SWITCH=set_local`` makes the service use it (docs/citus.md). The
  value is checked to be a UUID before it reaches the statement.
* An index on (tenant_id, agent_id, user_id, embedding_model): a recall's check that no turn
  of the scope was embedded with another model becomes two index probes instead of a walk of
  the scope, and the keyword stage counts a scope from the index alone. Equal keys are stored
  once per page (B-tree deduplication), so it stays small.
"""

from __future__ import annotations

from alembic import op

from konstruct_memory.migrations import blocks

revision: str = "010"
down_revision: str | None = "009"

_AUTHENTICATE = """
CREATE FUNCTION konstruct_authenticate(presented_hash bytea)
RETURNS TABLE (key_id uuid, tenant_id uuid, agent_id uuid, user_id text, scopes text[],
               rate_limit_per_s real{extra})
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k.id, k.tenant_id, k.agent_id, k.user_id, k.scopes, t.rate_limit_per_s{select}
    FROM public.api_keys k JOIN public.tenants t ON t.id = k.tenant_id
    WHERE k.key_hash = presented_hash AND k.revoked_at IS NULL
$$
"""

_READS_AUDITED = """
CREATE FUNCTION konstruct_reads_audited()
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(bool_or(t.audit_reads), false) FROM public.tenants t
    WHERE t.id = NULLIF(current_setting('app.current_tenant', true), '')::uuid
$$
"""

_SET_TENANT = """
CREATE FUNCTION konstruct_set_tenant(p_tenant text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- The cast refuses anything but a UUID; %L quotes what remains.
    EXECUTE format('SET LOCAL app.current_tenant = %L', p_tenant::uuid::text);
END
$$
"""


def _replace_authenticate(extra: str, select: str) -> None:
    blocks.replace_authenticate(_AUTHENTICATE.format(extra=extra, select=select))


def upgrade() -> None:
    _replace_authenticate(extra=", audit_reads boolean", select=", t.audit_reads")
    op.execute(
        "CREATE INDEX ix_conv_embed_scope_model ON conversation_embeddings "
        "(tenant_id, agent_id, user_id, embedding_model)"
    )
    for signature, body in (
        ("konstruct_reads_audited()", _READS_AUDITED),
        ("konstruct_set_tenant(text)", _SET_TENANT),
    ):
        op.execute(body)
        blocks.callable_by_runtime(signature)


def downgrade() -> None:
    op.execute("DROP INDEX ix_conv_embed_scope_model")
    op.execute("DROP FUNCTION konstruct_set_tenant(text)")
    op.execute("DROP FUNCTION konstruct_reads_audited()")
    _replace_authenticate(extra="", select="")
