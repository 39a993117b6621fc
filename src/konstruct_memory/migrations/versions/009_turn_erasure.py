"""Erasure of chosen turns.

Revision ID: 009
Revises: 008
Create Date: 2026-11-30

``konstruct_erase_turns`` removes the turns whose ids are given (optionally only those of one
agent and/or one user: a bound key's binding), records each in ``erased_turns`` so a retry
cannot bring it back, and appends one ledger row of the new kind ``turns`` that lists the ids
it removed. They are what a replay after a backup restore needs (exactly those, whatever
binding the request was confined to); they are random or chosen by the caller and already
kept by the tombstones, so the ledger learns nothing new. Read-audit
rows stay: they hold turn ids, not content.

Like ``konstruct_erase`` it is SECURITY DEFINER, owned by ``konstruct_eraser``, works in the
caller's transaction on the tenant set for it, and refuses a missing tenant.
"""

from __future__ import annotations

from alembic import op

revision: str = "009"
down_revision: str | None = "008"
branch_labels = None
depends_on = None

_SIGNATURE = (
    "konstruct_erase_turns(uuid[], uuid, text, bytea, uuid, timestamptz, timestamptz, uuid)"
)

_ERASE_TURNS = """
CREATE FUNCTION konstruct_erase_turns(
    p_turns uuid[], p_agent uuid, p_user text, p_subject bytea, p_key uuid,
    p_requested_at timestamptz, p_stored_before timestamptz, p_replay_of uuid)
RETURNS SETOF erasures
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v_tenant uuid := NULLIF(current_setting('app.current_tenant', true), '')::uuid;
    v_id uuid := gen_random_uuid();
    v_turns bigint;
    v_erased uuid[];
BEGIN
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'konstruct_erase_turns: no tenant is set for this transaction'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_turns IS NULL OR cardinality(p_turns) NOT BETWEEN 1 AND 1000
       OR array_position(p_turns, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'konstruct_erase_turns: name 1 to 1000 turn ids'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_user = '' THEN
        RAISE EXCEPTION 'konstruct_erase_turns: the user id is empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_subject IS NULL OR octet_length(p_subject) <> 32 THEN
        RAISE EXCEPTION 'konstruct_erase_turns: the subject hash must be 32 bytes'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH gone AS (
        DELETE FROM public.conversation_embeddings t
        WHERE t.tenant_id = v_tenant
          AND t.id = ANY(p_turns)
          AND (p_agent IS NULL OR t.agent_id = p_agent)
          AND (p_user IS NULL OR t.user_id = p_user)
          AND (p_stored_before IS NULL OR t.created_at <= p_stored_before)
        RETURNING t.id
    ), marked AS (
        INSERT INTO public.erased_turns (tenant_id, turn_id, erasure_id)
        SELECT v_tenant, gone.id, v_id FROM gone
        ON CONFLICT DO NOTHING
    )
    SELECT count(*), coalesce(array_agg(gone.id ORDER BY gone.id), '{}')
    INTO v_turns, v_erased FROM gone;
    RETURN QUERY
    INSERT INTO public.erasures AS e
        (id, tenant_id, kind, subject_hash, key_id, turns_erased, audit_rows_erased,
         requested_at, replay_of, turn_ids)
    VALUES (v_id, v_tenant, 'turns', p_subject, p_key, v_turns, 0,
            coalesce(p_requested_at, clock_timestamp()), p_replay_of, v_erased)
    RETURNING e.*;
END
$$
"""


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE erasures
            ADD COLUMN turn_ids uuid[],
            DROP CONSTRAINT erasures_kind_check,
            ADD CONSTRAINT erasures_kind_check
                CHECK (kind IN ('agent', 'user', 'agent_user', 'turns', 'retention')),
            ADD CONSTRAINT erasures_turn_ids_check CHECK ((kind = 'turns') = (turn_ids IS NOT NULL))
        """
    )
    # The function's owner must be able to create in the schema while it becomes the owner.
    op.execute("GRANT USAGE, CREATE ON SCHEMA public TO konstruct_eraser")
    op.execute(_ERASE_TURNS)
    op.execute(f"ALTER FUNCTION {_SIGNATURE} OWNER TO konstruct_eraser")
    op.execute(f"REVOKE ALL ON FUNCTION {_SIGNATURE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {_SIGNATURE} TO konstruct_app")
    op.execute("REVOKE CREATE ON SCHEMA public FROM konstruct_eraser")


def downgrade() -> None:
    # The ledger is a legal record: a downgrade that would have to drop entries refuses.
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM erasures WHERE kind = 'turns') THEN
                RAISE EXCEPTION 'the erasure ledger holds turn erasures; 008 cannot keep them';
            END IF;
        END
        $$
        """
    )
    op.execute(f"DROP FUNCTION {_SIGNATURE}")
    op.execute(
        """
        ALTER TABLE erasures
            DROP CONSTRAINT erasures_turn_ids_check,
            DROP CONSTRAINT erasures_kind_check,
            ADD CONSTRAINT erasures_kind_check
                CHECK (kind IN ('agent', 'user', 'agent_user', 'retention')),
            DROP COLUMN turn_ids
        """
    )
