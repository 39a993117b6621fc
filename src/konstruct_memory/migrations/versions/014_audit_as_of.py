"""The read audit records the moment a read looked back to.

Revision ID: 014
Revises: 013
Create Date: 2026-12-02

Recall, history and context may be asked ``as_of`` a moment: only turns stored by then count
(``created_at``). An operator reviewing what an agent was shown needs to know which reads
looked back, so ``read_audit`` gains a nullable ``as_of`` and the audit function a variant
that takes it. The six-argument function stays: a process of the previous release, still
running during a rolling upgrade, keeps recording its reads through it.
"""

from __future__ import annotations

from alembic import op

from konstruct_memory.migrations import blocks

revision: str = "014"
down_revision: str | None = "013"

_SIGNATURE = "konstruct_audit_read(text, uuid, uuid, text, uuid[], text, timestamptz)"

_AUDIT_READ = """
CREATE FUNCTION konstruct_audit_read(
    p_operation text, p_key uuid, p_agent uuid, p_user text, p_turns uuid[], p_query text,
    p_as_of timestamptz)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO public.read_audit
        (tenant_id, key_id, operation, agent_id, user_id, turn_ids, query, as_of)
    SELECT t.id, p_key, p_operation, p_agent, p_user, p_turns,
           CASE WHEN t.audit_query_text THEN p_query END, p_as_of
    FROM public.tenants t
    WHERE t.id = NULLIF(current_setting('app.current_tenant', true), '')::uuid AND t.audit_reads
$$
"""


def upgrade() -> None:
    op.execute("ALTER TABLE read_audit ADD COLUMN as_of timestamptz")
    op.execute(_AUDIT_READ)
    blocks.callable_by_runtime(_SIGNATURE)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {_SIGNATURE}")
    op.execute("ALTER TABLE read_audit DROP COLUMN as_of")
