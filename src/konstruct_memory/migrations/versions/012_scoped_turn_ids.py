"""Turn ids and their tombstones per (agent, user); the ledger's subject hash gets a version.

Revision ID: 012
Revises: 011
Create Date: 2026-12-01

* A turn id is unique within its (agent, user), not across the tenant: the primary key becomes
  ``(tenant_id, id, agent_id, user_id)`` (tenant first, as Citus needs; id next, so a lookup by
  id alone still reads one index). A key bound to one user can no longer take an id that
  another user's client chose, nor learn whether that id is stored.
* A tombstone (``erased_turns``) records the agent and user of the turn it stands for, and
  refuses the id only there. Tombstones written before this revision do not know their turn's
  agent and user (the turns are gone): they keep refusing their id in every scope of the
  tenant (``agent_id`` and ``user_id`` null), so no erased turn can come back.
* ``erasures.subject_hash_version``: 1 for the entries written before this revision (HMAC of
  kind, agent and user), 2 from now on (the tenant is part of the HMAC, so two tenants erasing
  the same person record different hashes). A replay after a restore matches each entry with
  the hash of its own version. ``konstruct_erase`` and ``konstruct_erase_turns`` take the
  version and write the tombstones' scope.

The key is rebuilt under an ACCESS EXCLUSIVE lock: writes and reads of turns wait while the
index is built, for a time that grows with the table (plan the upgrade of a large one). Every
stored row keeps its place: the new key is wider than the old one, so whatever was unique
stays unique.
"""

from __future__ import annotations

from alembic import op

revision: str = "012"
down_revision: str | None = "011"
branch_labels = None
depends_on = None

_OLD_ERASE = "konstruct_erase(uuid, text, bytea, uuid, timestamptz, timestamptz, uuid)"
_OLD_ERASE_TURNS = (
    "konstruct_erase_turns(uuid[], uuid, text, bytea, uuid, timestamptz, timestamptz, uuid)"
)
_ERASE = "konstruct_erase(uuid, text, bytea, integer, uuid, timestamptz, timestamptz, uuid)"
_ERASE_TURNS = (
    "konstruct_erase_turns(uuid[], uuid, text, bytea, integer, uuid, timestamptz, timestamptz,"
    " uuid)"
)

_ERASE_BODY = """
CREATE FUNCTION konstruct_erase(
    p_agent uuid, p_user text, p_subject bytea, p_subject_version integer, p_key uuid,
    p_requested_at timestamptz, p_stored_before timestamptz, p_replay_of uuid)
RETURNS SETOF erasures
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v_tenant uuid := NULLIF(current_setting('app.current_tenant', true), '')::uuid;
    v_id uuid := gen_random_uuid();
    v_kind text;
    v_turns bigint;
    v_audit bigint;
BEGIN
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'konstruct_erase: no tenant is set for this transaction'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_agent IS NULL AND coalesce(p_user, '') = '' THEN
        RAISE EXCEPTION 'konstruct_erase: name an agent, a user, or both'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_user = '' THEN
        RAISE EXCEPTION 'konstruct_erase: the user id is empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_subject IS NULL OR octet_length(p_subject) <> 32 THEN
        RAISE EXCEPTION 'konstruct_erase: the subject hash must be 32 bytes'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_subject_version IS NULL OR p_subject_version NOT IN (1, 2) THEN
        RAISE EXCEPTION 'konstruct_erase: the subject hash version must be 1 or 2'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_kind := CASE WHEN p_agent IS NULL THEN 'user'
                   WHEN p_user IS NULL THEN 'agent'
                   ELSE 'agent_user' END;
    WITH gone AS (
        DELETE FROM public.conversation_embeddings t
        WHERE t.tenant_id = v_tenant
          AND (p_agent IS NULL OR t.agent_id = p_agent)
          AND (p_user IS NULL OR t.user_id = p_user)
          AND (p_stored_before IS NULL OR t.created_at <= p_stored_before)
        RETURNING t.id, t.agent_id, t.user_id
    ), marked AS (
        INSERT INTO public.erased_turns (tenant_id, turn_id, agent_id, user_id, erasure_id)
        SELECT v_tenant, gone.id, gone.agent_id, gone.user_id, v_id FROM gone
        ON CONFLICT DO NOTHING
    )
    SELECT count(*) INTO v_turns FROM gone;
    DELETE FROM public.read_audit a
    WHERE a.tenant_id = v_tenant
      AND (p_agent IS NULL OR a.agent_id = p_agent)
      AND (p_user IS NULL OR a.user_id = p_user)
      AND (p_stored_before IS NULL OR a.at <= p_stored_before);
    GET DIAGNOSTICS v_audit = ROW_COUNT;
    RETURN QUERY
    INSERT INTO public.erasures AS e
        (id, tenant_id, kind, subject_hash, subject_hash_version, key_id, turns_erased,
         audit_rows_erased, requested_at, replay_of)
    VALUES (v_id, v_tenant, v_kind, p_subject, p_subject_version, p_key, v_turns, v_audit,
            coalesce(p_requested_at, clock_timestamp()), p_replay_of)
    RETURNING e.*;
END
$$
"""

_ERASE_TURNS_BODY = """
CREATE FUNCTION konstruct_erase_turns(
    p_turns uuid[], p_agent uuid, p_user text, p_subject bytea, p_subject_version integer,
    p_key uuid, p_requested_at timestamptz, p_stored_before timestamptz, p_replay_of uuid)
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
    IF p_subject_version IS NULL OR p_subject_version NOT IN (1, 2) THEN
        RAISE EXCEPTION 'konstruct_erase_turns: the subject hash version must be 1 or 2'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH gone AS (
        DELETE FROM public.conversation_embeddings t
        WHERE t.tenant_id = v_tenant
          AND t.id = ANY(p_turns)
          AND (p_agent IS NULL OR t.agent_id = p_agent)
          AND (p_user IS NULL OR t.user_id = p_user)
          AND (p_stored_before IS NULL OR t.created_at <= p_stored_before)
        RETURNING t.id, t.agent_id, t.user_id
    ), marked AS (
        INSERT INTO public.erased_turns (tenant_id, turn_id, agent_id, user_id, erasure_id)
        SELECT v_tenant, gone.id, gone.agent_id, gone.user_id, v_id FROM gone
        ON CONFLICT DO NOTHING
    )
    SELECT count(*), coalesce(array_agg(DISTINCT gone.id ORDER BY gone.id), '{}')
    INTO v_turns, v_erased FROM gone;
    RETURN QUERY
    INSERT INTO public.erasures AS e
        (id, tenant_id, kind, subject_hash, subject_hash_version, key_id, turns_erased,
         audit_rows_erased, requested_at, replay_of, turn_ids)
    VALUES (v_id, v_tenant, 'turns', p_subject, p_subject_version, p_key, v_turns, 0,
            coalesce(p_requested_at, clock_timestamp()), p_replay_of, v_erased)
    RETURNING e.*;
END
$$
"""


def _install(signature: str, body: str) -> None:
    op.execute(body)
    op.execute(f"ALTER FUNCTION {signature} OWNER TO konstruct_eraser")
    op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO konstruct_app")


def upgrade() -> None:
    op.execute("ALTER TABLE conversation_embeddings DROP CONSTRAINT conversation_embeddings_pkey")
    op.execute(
        "ALTER TABLE conversation_embeddings ADD PRIMARY KEY (tenant_id, id, agent_id, user_id)"
    )
    # Both scope columns are set for every tombstone from now on, both null for older ones.
    op.execute(
        """
        ALTER TABLE erased_turns
            ADD COLUMN agent_id uuid,
            ADD COLUMN user_id text,
            ADD CONSTRAINT erased_turns_scope_check CHECK ((agent_id IS NULL) = (user_id IS NULL)),
            DROP CONSTRAINT erased_turns_pkey,
            ADD CONSTRAINT erased_turns_turn_scope_key
                UNIQUE NULLS NOT DISTINCT (tenant_id, turn_id, agent_id, user_id)
        """
    )
    # The owner's policy on the ledger lets this UPDATE see every tenant's entries.
    op.execute(
        """
        ALTER TABLE erasures
            ADD COLUMN subject_hash_version smallint CHECK (subject_hash_version IN (1, 2))
        """
    )
    op.execute("UPDATE erasures SET subject_hash_version = 1 WHERE subject_hash IS NOT NULL")
    op.execute(
        "ALTER TABLE erasures ADD CONSTRAINT erasures_subject_hash_versioned_check "
        "CHECK ((subject_hash IS NULL) = (subject_hash_version IS NULL))"
    )
    op.execute(f"DROP FUNCTION {_OLD_ERASE}")
    op.execute(f"DROP FUNCTION {_OLD_ERASE_TURNS}")
    # The functions' owner must be able to create in the schema while it becomes the owner.
    op.execute("GRANT USAGE, CREATE ON SCHEMA public TO konstruct_eraser")
    _install(_ERASE, _ERASE_BODY)
    _install(_ERASE_TURNS, _ERASE_TURNS_BODY)
    op.execute("REVOKE CREATE ON SCHEMA public FROM konstruct_eraser")


def downgrade() -> None:
    # FORCE would hide every turn from these checks; lifted inside this transaction only.
    op.execute("ALTER TABLE conversation_embeddings NO FORCE ROW LEVEL SECURITY")
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM conversation_embeddings
                       GROUP BY tenant_id, id HAVING count(*) > 1) THEN
                RAISE EXCEPTION 'cannot downgrade below 012: some turn ids are used by more '
                    'than one agent or user of a tenant, and 011 requires them unique per tenant';
            END IF;
            IF EXISTS (SELECT 1 FROM erasures WHERE subject_hash_version = 2) THEN
                RAISE EXCEPTION 'cannot downgrade below 012: the erasure ledger holds subject '
                    'hashes of version 2, which 011 cannot match when it replays them';
            END IF;
        END
        $$
        """
    )
    op.execute("ALTER TABLE conversation_embeddings FORCE ROW LEVEL SECURITY")
    op.execute(f"DROP FUNCTION {_ERASE}")
    op.execute(f"DROP FUNCTION {_ERASE_TURNS}")
    op.execute(
        "ALTER TABLE erasures DROP CONSTRAINT erasures_subject_hash_versioned_check, "
        "DROP COLUMN subject_hash_version"
    )
    # One tombstone per id, refusing it in every scope again (a wider refusal, never a gap).
    op.execute(
        """
        DELETE FROM erased_turns e USING erased_turns f
        WHERE e.tenant_id = f.tenant_id AND e.turn_id = f.turn_id AND e.ctid > f.ctid
        """
    )
    op.execute(
        """
        ALTER TABLE erased_turns
            DROP CONSTRAINT erased_turns_turn_scope_key,
            DROP CONSTRAINT erased_turns_scope_check,
            DROP COLUMN agent_id,
            DROP COLUMN user_id,
            ADD PRIMARY KEY (tenant_id, turn_id)
        """
    )
    op.execute("ALTER TABLE conversation_embeddings DROP CONSTRAINT conversation_embeddings_pkey")
    op.execute("ALTER TABLE conversation_embeddings ADD PRIMARY KEY (tenant_id, id)")
    # 011's functions, as 007 and 009 created them.
    op.execute("GRANT USAGE, CREATE ON SCHEMA public TO konstruct_eraser")
    for signature, body in _previous_functions():
        _install(signature, body)
    op.execute("REVOKE CREATE ON SCHEMA public FROM konstruct_eraser")


def _previous_functions() -> list[tuple[str, str]]:
    import importlib

    erase = importlib.import_module(
        "konstruct_memory.migrations.versions.007_erasure_retention_audit"
    )
    turns = importlib.import_module("konstruct_memory.migrations.versions.009_turn_erasure")
    return [(_OLD_ERASE, erase._ERASE), (_OLD_ERASE_TURNS, turns._ERASE_TURNS)]
