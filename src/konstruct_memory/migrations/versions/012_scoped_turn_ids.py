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

from konstruct_memory.migrations import blocks

revision: str = "012"
down_revision: str | None = "011"

_OLD_ERASE = "konstruct_erase(uuid, text, bytea, uuid, timestamptz, timestamptz, uuid)"
_OLD_ERASE_TURNS = (
    "konstruct_erase_turns(uuid[], uuid, text, bytea, uuid, timestamptz, timestamptz, uuid)"
)
_ERASE = "konstruct_erase(uuid, text, bytea, integer, uuid, timestamptz, timestamptz, uuid)"
_ERASE_TURNS = (
    "konstruct_erase_turns(uuid[], uuid, text, bytea, integer, uuid, timestamptz, timestamptz,"
    " uuid)"
)

# From this revision, a tombstone records its turn's scope.
_SCOPED_TOMBSTONES = """        RETURNING t.id, t.agent_id, t.user_id
    ), marked AS (
        INSERT INTO public.erased_turns (tenant_id, turn_id, agent_id, user_id, erasure_id)
        SELECT v_tenant, gone.id, gone.agent_id, gone.user_id, v_id FROM gone
        ON CONFLICT DO NOTHING
    )
"""

_ERASE_BODY = blocks.function_text(
    """
CREATE FUNCTION konstruct_erase(
    p_agent uuid, p_user text, p_subject bytea, p_subject_version integer, p_key uuid,
    p_requested_at timestamptz, p_stored_before timestamptz, p_replay_of uuid)
""",
    blocks.ERASER_RETURNS,
    blocks.PLANNED_PER_CALL,
    blocks.ERASE_DECLARES,
    blocks.refuse_bad_erasure("konstruct_erase"),
    blocks.refuse_bad_version("konstruct_erase"),
    blocks.ERASE_KIND,
    blocks.ERASE_FROM_TURNS,
    blocks.IN_SCOPE,
    _SCOPED_TOMBSTONES,
    "    SELECT count(*) INTO v_turns FROM gone;\n",
    blocks.ERASE_AUDIT_ROWS,
    blocks.RECORD_ERASURE,
    """        (id, tenant_id, kind, subject_hash, subject_hash_version, key_id, turns_erased,
         audit_rows_erased, requested_at, replay_of)
    VALUES (v_id, v_tenant, v_kind, p_subject, p_subject_version, p_key, v_turns, v_audit,
            coalesce(p_requested_at, clock_timestamp()), p_replay_of)
""",
    blocks.ERASER_END,
)

_ERASE_TURNS_BODY = blocks.function_text(
    """
CREATE FUNCTION konstruct_erase_turns(
    p_turns uuid[], p_agent uuid, p_user text, p_subject bytea, p_subject_version integer,
    p_key uuid, p_requested_at timestamptz, p_stored_before timestamptz, p_replay_of uuid)
""",
    blocks.ERASER_RETURNS,
    blocks.PLANNED_PER_CALL,
    blocks.ERASE_TURNS_DECLARES,
    blocks.refuse_bad_turn_erasure("konstruct_erase_turns"),
    blocks.refuse_bad_version("konstruct_erase_turns"),
    blocks.NAMED_TURNS_IN_SCOPE,
    _SCOPED_TOMBSTONES,
    """    SELECT count(*), coalesce(array_agg(DISTINCT gone.id ORDER BY gone.id), '{}')
    INTO v_turns, v_erased FROM gone;
""",
    blocks.RECORD_ERASURE,
    """        (id, tenant_id, kind, subject_hash, subject_hash_version, key_id, turns_erased,
         audit_rows_erased, requested_at, replay_of, turn_ids)
    VALUES (v_id, v_tenant, 'turns', p_subject, p_subject_version, p_key, v_turns, 0,
            coalesce(p_requested_at, clock_timestamp()), p_replay_of, v_erased)
""",
    blocks.ERASER_END,
)


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
    with blocks.eraser_creates():
        blocks.install_as_eraser(_ERASE, _ERASE_BODY)
        blocks.install_as_eraser(_ERASE_TURNS, _ERASE_TURNS_BODY)


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
    with blocks.eraser_creates():
        for signature, body in _previous_functions():
            blocks.install_as_eraser(signature, body)


def _previous_functions() -> list[tuple[str, str]]:
    import importlib

    erase = importlib.import_module(
        "konstruct_memory.migrations.versions.007_erasure_retention_audit"
    )
    turns = importlib.import_module("konstruct_memory.migrations.versions.009_turn_erasure")
    return [(_OLD_ERASE, erase._ERASE), (_OLD_ERASE_TURNS, turns._ERASE_TURNS)]
