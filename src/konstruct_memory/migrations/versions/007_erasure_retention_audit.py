"""Data lifecycle: erasure on request, retention windows, a read audit trail.

Revision ID: 007
Revises: 006
Create Date: 2026-11-29

The runtime role keeps SELECT and INSERT only. Every removal goes through two SECURITY DEFINER
functions owned by ``konstruct_eraser``, a role that cannot log in and is the only one (besides
the owner) allowed to DELETE turns:

* ``konstruct_erase`` removes the turns (and read-audit rows) of one agent, one user or one
  agent's user, records each removed turn id in ``erased_turns`` (so a retry cannot bring it
  back) and appends one row to the ``erasures`` ledger, all in the caller's transaction;
* ``konstruct_expire`` removes one bounded batch of turns older than the tenant's own
  ``retention_days`` (the caller cannot choose the cutoff) and records the batch in the ledger.

Both act only on the tenant the transaction is set to (``app.current_tenant``): they refuse a
missing or empty one, and row-level security applies to their owner as to the runtime role.
The ledger names its subject only by an HMAC computed by the service with a per-deployment key
that the database never sees, so it holds no personal data yet matches a repeated request.

``konstruct_audit_read`` appends one ``read_audit`` row per read when the tenant has
``audit_reads`` on; the runtime role calls it in the read's own transaction and cannot write
the table directly. ``audit`` joins the key scopes (reading the audit trail).
"""

from __future__ import annotations

from alembic import op

from konstruct_memory.migrations import blocks

revision: str = "007"
down_revision: str | None = "006"

_ERASE = blocks.function_text(
    """
CREATE FUNCTION konstruct_erase(
    p_agent uuid, p_user text, p_subject bytea, p_key uuid, p_requested_at timestamptz,
    p_stored_before timestamptz, p_replay_of uuid)
""",
    blocks.ERASER_RETURNS,
    """\
-- Each call is planned for its own arguments, so "p_agent IS NULL OR ..." folds away and the
-- scope index is used.
SET plan_cache_mode = force_custom_plan
""",
    blocks.ERASE_DECLARES,
    blocks.refuse_bad_erasure("konstruct_erase"),
    blocks.ERASE_KIND,
    blocks.ERASE_FROM_TURNS,
    blocks.IN_SCOPE,
    blocks.TOMBSTONES,
    """    SELECT count(*) INTO v_turns FROM gone;
""",
    blocks.ERASE_AUDIT_ROWS,
    blocks.RECORD_ERASURE,
    """        (id, tenant_id, kind, subject_hash, key_id, turns_erased, audit_rows_erased,
         requested_at, replay_of)
    VALUES (v_id, v_tenant, v_kind, p_subject, p_key, v_turns, v_audit,
            coalesce(p_requested_at, clock_timestamp()), p_replay_of)
""",
    blocks.ERASER_END,
)

# One bounded batch of a table's rows older than the cutoff, counted into ``{counted}``.
_EXPIRED_BATCH = """    WITH gone AS (
        DELETE FROM public.{table} {row}
        WHERE {row}.tenant_id = v_tenant AND {row}.id IN (
            SELECT o.id FROM public.{table} o
            WHERE o.tenant_id = v_tenant AND o.{time} < v_cutoff
            LIMIT p_batch)
        RETURNING {row}.id
    )
    SELECT count(*) INTO {counted} FROM gone;
"""

_EXPIRE = blocks.function_text(
    """
CREATE FUNCTION konstruct_expire(p_batch integer)
RETURNS SETOF erasures
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_tenant uuid := NULLIF(current_setting('app.current_tenant', true), '')::uuid;
    v_started timestamptz := clock_timestamp();
    v_days integer;
    v_cutoff timestamptz;
    v_turns bigint;
    v_audit bigint;
BEGIN
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'konstruct_expire: no tenant is set for this transaction'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_batch IS NULL OR p_batch < 1 OR p_batch > 100000 THEN
        RAISE EXCEPTION 'konstruct_expire: the batch must hold 1 to 100000 rows'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT t.retention_days INTO v_days FROM public.tenants t WHERE t.id = v_tenant;
    IF v_days IS NULL THEN
        RETURN;  -- the tenant keeps everything
    END IF;
    v_cutoff := v_started - make_interval(days => v_days);
""",
    _EXPIRED_BATCH.format(
        table="conversation_embeddings", row="t", time="occurred_at", counted="v_turns"
    ),
    _EXPIRED_BATCH.format(table="read_audit", row="a", time="at", counted="v_audit"),
    """    IF v_turns = 0 AND v_audit = 0 THEN
        RETURN;  -- nothing was due: no ledger row
    END IF;
    RETURN QUERY
    INSERT INTO public.erasures AS e
        (tenant_id, kind, cutoff, turns_erased, audit_rows_erased, requested_at)
    VALUES (v_tenant, 'retention', v_cutoff, v_turns, v_audit, v_started)
    RETURNING e.*;
END
$$
""",
)

_AUDIT_READ = """
CREATE FUNCTION konstruct_audit_read(
    p_operation text, p_key uuid, p_agent uuid, p_user text, p_turns uuid[], p_query text)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO public.read_audit
        (tenant_id, key_id, operation, agent_id, user_id, turn_ids, query)
    SELECT t.id, p_key, p_operation, p_agent, p_user, p_turns,
           CASE WHEN t.audit_query_text THEN p_query END
    FROM public.tenants t
    WHERE t.id = NULLIF(current_setting('app.current_tenant', true), '')::uuid AND t.audit_reads
$$
"""

_RETENTION_TENANTS = """
CREATE FUNCTION konstruct_retention_tenants()
RETURNS TABLE (tenant_id uuid, retention_days integer)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.id, t.retention_days FROM public.tenants t
    WHERE t.retention_days IS NOT NULL ORDER BY t.id
$$
"""

_ENSURE_ERASER = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'konstruct_eraser') THEN
        CREATE ROLE konstruct_eraser NOLOGIN;
    END IF;
    IF NOT pg_has_role(current_user, 'konstruct_eraser', 'SET') THEN
        -- Making the functions owned by it needs membership: the creator of the role (or a
        -- superuser, see db/provision.py) can grant it.
        BEGIN
            EXECUTE format('GRANT konstruct_eraser TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'role konstruct_eraser exists but % may not use it', current_user
                USING HINT = format('As a superuser: GRANT konstruct_eraser TO %I', current_user);
        END;
    END IF;
END
$$
"""

_FUNCTIONS = {
    "konstruct_erase(uuid, text, bytea, uuid, timestamptz, timestamptz, uuid)": _ERASE,
    "konstruct_expire(integer)": _EXPIRE,
}


def upgrade() -> None:
    op.execute(_ENSURE_ERASER)
    op.execute(
        """
        ALTER TABLE tenants
            ADD COLUMN retention_days integer CHECK (retention_days BETWEEN 1 AND 36500),
            ADD COLUMN audit_reads boolean NOT NULL DEFAULT false,
            ADD COLUMN audit_query_text boolean NOT NULL DEFAULT false
        """
    )
    op.execute(
        """
        ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_check,
            ADD CONSTRAINT api_keys_scopes_check CHECK (cardinality(scopes) > 0
                AND scopes <@ ARRAY['read', 'write', 'erase', 'audit']::text[])
        """
    )
    op.execute(
        """
        CREATE TABLE erasures (
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            kind text NOT NULL CHECK (kind IN ('agent', 'user', 'agent_user', 'retention')),
            subject_hash bytea CHECK (octet_length(subject_hash) = 32),
            cutoff timestamptz,
            key_id uuid,
            turns_erased bigint NOT NULL,
            audit_rows_erased bigint NOT NULL,
            requested_at timestamptz NOT NULL,
            completed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            replay_of uuid,
            PRIMARY KEY (tenant_id, id),
            CHECK ((kind = 'retention') = (subject_hash IS NULL)),
            CHECK ((kind = 'retention') = (cutoff IS NOT NULL))
        )
        """
    )
    op.execute("CREATE INDEX ix_erasures_tenant_time ON erasures (tenant_id, completed_at)")
    # No foreign key to tenants: its check would run once per erased turn and double the cost
    # of an erasure, and a tombstone is only a pair of ids.
    op.execute(
        """
        CREATE TABLE erased_turns (
            tenant_id uuid NOT NULL,
            turn_id uuid NOT NULL,
            erasure_id uuid NOT NULL,
            PRIMARY KEY (tenant_id, turn_id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE read_audit (
            id bigint GENERATED ALWAYS AS IDENTITY,
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            at timestamptz NOT NULL DEFAULT clock_timestamp(),
            key_id uuid,
            operation text NOT NULL,
            agent_id uuid NOT NULL,
            user_id text,
            turn_ids uuid[] NOT NULL,
            query text,
            PRIMARY KEY (tenant_id, id)
        )
        """
    )
    op.execute("CREATE INDEX ix_read_audit_tenant_time ON read_audit (tenant_id, at)")
    op.execute("CREATE INDEX ix_read_audit_subject ON read_audit (tenant_id, user_id, agent_id)")
    # Retention finds a tenant's oldest turns without walking every (agent, user) scope.
    op.execute(
        "CREATE INDEX ix_conv_embed_tenant_occurred ON conversation_embeddings "
        "(tenant_id, occurred_at)"
    )
    for table in ("erasures", "erased_turns", "read_audit"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(blocks.tenant_policy(table))
        op.execute(f"CREATE POLICY owner_administers ON {table} TO CURRENT_USER USING (true)")
        op.execute(f"GRANT SELECT ON {table} TO konstruct_app")
    # The eraser deletes and records; it reads only what its WHERE clauses need.
    op.execute("GRANT SELECT, DELETE ON conversation_embeddings, read_audit TO konstruct_eraser")
    op.execute("GRANT SELECT, INSERT ON erasures, erased_turns TO konstruct_eraser")
    op.execute("GRANT SELECT (id, retention_days) ON tenants TO konstruct_eraser")
    # A new owner needs CREATE on the schema; it is taken back once the functions are its own.
    with blocks.eraser_creates():
        for signature, body in _FUNCTIONS.items():
            blocks.install_as_eraser(signature, body)
    for signature, body in {
        "konstruct_audit_read(text, uuid, uuid, text, uuid[], text)": _AUDIT_READ,
        "konstruct_retention_tenants()": _RETENTION_TENANTS,
    }.items():
        op.execute(body)
        blocks.callable_by_runtime(signature)


def downgrade() -> None:
    for signature in (
        *_FUNCTIONS,
        "konstruct_audit_read(text, uuid, uuid, text, uuid[], text)",
        "konstruct_retention_tenants()",
    ):
        op.execute(f"DROP FUNCTION {signature}")
    op.execute("REVOKE ALL ON conversation_embeddings, tenants FROM konstruct_eraser")
    op.execute("REVOKE ALL ON SCHEMA public FROM konstruct_eraser")
    op.execute("DROP TABLE read_audit, erased_turns, erasures")
    op.execute("DROP INDEX ix_conv_embed_tenant_occurred")
    op.execute(
        """
        ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_check,
            ADD CONSTRAINT api_keys_scopes_check CHECK (cardinality(scopes) > 0
                AND scopes <@ ARRAY['read', 'write', 'erase']::text[])
        """
    )
    op.execute(
        "ALTER TABLE tenants DROP COLUMN retention_days, DROP COLUMN audit_reads, "
        "DROP COLUMN audit_query_text"
    )
