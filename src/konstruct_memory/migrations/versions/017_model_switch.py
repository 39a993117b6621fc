"""A tenant's embedding model, switched without new ids and without UPDATE rights.

Revision ID: 017
Revises: 016
Create Date: 2026-12-09

Turns keep their row, their id and their content whatever model embeds them; the vectors of
the other models live beside them:

* ``turn_vectors``: one vector per (tenant, turn, model), keyed by the turn's key and the
  model, with a copy of the columns a read filters and orders on (agent, user, thread, role,
  times, ``seq``; turns are never updated, so the copy never goes stale). The foreign key to
  the turn is ON DELETE CASCADE: erasure and retention remove a turn's vectors with it. The
  runtime role may SELECT and INSERT only; row-level security is forced as on the turns. Its
  HNSW indexes are partial, one per model, built by ``model switch`` (``store.models``): a
  graph of one model's vectors only.
* ``tenant_models``: which model a tenant's reads use (NULL: the service's configured model,
  read from the turns' own ``embedding`` column, as before this revision) and the model a
  switch in progress also writes. The owner writes it (``model switch``); the runtime role
  reads its own tenant's row.
* ``turn_windows`` may hold a turn's windows under several models: the model joins its key.
* ``conversation_embeddings.embedding`` may be NULL: the turns of a tenant that switched keep
  no vector of their own (theirs are in ``turn_vectors``), and the old model's vectors are
  removed after a switch.
* ``konstruct_erase_model`` (SECURITY DEFINER, owned by ``konstruct_eraser``) removes every
  vector of one model from the tenant (the turns' own column set to NULL, the rows of
  ``turn_vectors`` and ``turn_windows`` deleted) and appends one ledger entry of kind
  ``model`` naming it, so that a replay after a restore removes them again. It refuses the
  model the tenant reads or a switch writes. The eraser may update the ``embedding`` column
  only; the runtime role still has no UPDATE or DELETE on any of these tables.
"""

from __future__ import annotations

from alembic import op

from konstruct_memory.migrations import blocks

revision: str = "017"
down_revision: str | None = "016"

_ERASE_MODEL_SIGNATURE = "konstruct_erase_model(text, bytea, uuid, timestamptz, uuid)"
_ERASE_MODEL = blocks.function_text(
    """
CREATE FUNCTION konstruct_erase_model(
    p_model text, p_subject bytea, p_key uuid, p_requested_at timestamptz, p_replay_of uuid)
""",
    blocks.ERASER_RETURNS,
    blocks.ERASER_DECLARES,
    """    v_reads text;
    v_target text;
    v_own bigint;
    v_beside bigint;
BEGIN
""",
    blocks.refuse_without_tenant("konstruct_erase_model"),
    blocks.refuse("konstruct_erase_model", "coalesce(p_model, '') = ''", "name a model"),
    blocks.refuse(
        "konstruct_erase_model",
        "p_subject IS NULL OR octet_length(p_subject) <> 32",
        "the subject hash must be 32 bytes",
    ),
    """    -- The tenant's row is locked, so no switch starts or flips while its vectors go.
    SELECT m.reads_model, m.target_model INTO v_reads, v_target
    FROM public.tenant_models m WHERE m.tenant_id = v_tenant FOR UPDATE;
    IF v_reads IS NULL THEN
        RAISE EXCEPTION 'konstruct_erase_model: the tenant reads the turns'' own vectors; '
            'only a tenant that switched models can lose one'
            USING ERRCODE = 'object_in_use';
    END IF;
    IF p_model = v_reads OR p_model = v_target THEN
        RAISE EXCEPTION 'konstruct_erase_model: the tenant''s reads or its switch use %', p_model
            USING ERRCODE = 'object_in_use';
    END IF;
    UPDATE public.conversation_embeddings t SET embedding = NULL
    WHERE t.tenant_id = v_tenant AND t.embedding_model = p_model AND t.embedding IS NOT NULL;
    GET DIAGNOSTICS v_own = ROW_COUNT;
    DELETE FROM public.turn_vectors v WHERE v.tenant_id = v_tenant AND v.embedding_model = p_model;
    GET DIAGNOSTICS v_beside = ROW_COUNT;
    DELETE FROM public.turn_windows w WHERE w.tenant_id = v_tenant AND w.embedding_model = p_model;
    RETURN QUERY
    INSERT INTO public.erasures AS e
        (id, tenant_id, kind, subject_hash, subject_hash_version, key_id, turns_erased,
         audit_rows_erased, requested_at, replay_of, embedding_model)
    VALUES (v_id, v_tenant, 'model', p_subject, 2, p_key, v_own + v_beside, 0,
            coalesce(p_requested_at, clock_timestamp()), p_replay_of, p_model)
    RETURNING e.*;
END
$$
""",
)


def upgrade() -> None:
    op.execute("ALTER TABLE conversation_embeddings ALTER COLUMN embedding DROP NOT NULL")
    op.execute(
        """
        CREATE TABLE turn_vectors (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL,
            agent_id uuid NOT NULL,
            user_id text NOT NULL,
            embedding_model text NOT NULL,
            embedding vector(384) NOT NULL,
            role text NOT NULL,
            conversation_id text,
            occurred_at timestamptz NOT NULL,
            created_at timestamptz NOT NULL,
            seq bigint NOT NULL,
            PRIMARY KEY (tenant_id, id, agent_id, user_id, embedding_model),
            FOREIGN KEY (tenant_id, id, agent_id, user_id)
                REFERENCES conversation_embeddings (tenant_id, id, agent_id, user_id)
                ON DELETE CASCADE
        )
        """
    )
    op.execute(
        "COMMENT ON TABLE turn_vectors IS "
        "'Vectors of the turns under models other than their own column''s (model switch)'"
    )
    # A scope's vectors of one model in thread order: the exact search, neighbours, days.
    op.execute(
        "CREATE INDEX ix_turn_vectors_scope ON turn_vectors "
        "(tenant_id, agent_id, user_id, embedding_model, occurred_at, seq)"
    )
    op.execute(
        """
        CREATE TABLE tenant_models (
            tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
            reads_model text,
            reads_path text,
            target_model text,
            target_path text,
            switch_started_at timestamptz,
            flipped_at timestamptz,
            CHECK (target_model IS NULL OR target_model IS DISTINCT FROM reads_model)
        )
        """
    )
    for table in ("turn_vectors", "tenant_models"):
        blocks.confine_to_tenant(table)
    op.execute("CREATE POLICY owner_administers ON tenant_models TO CURRENT_USER USING (true)")
    op.execute("GRANT SELECT, INSERT ON turn_vectors TO konstruct_app")
    op.execute("GRANT SELECT ON tenant_models TO konstruct_app")

    op.execute(
        "ALTER TABLE turn_windows DROP CONSTRAINT turn_windows_pkey, "
        "ADD PRIMARY KEY (tenant_id, turn_id, agent_id, user_id, embedding_model, window_no)"
    )

    op.execute(
        """
        ALTER TABLE erasures
            ADD COLUMN embedding_model text,
            DROP CONSTRAINT erasures_kind_check,
            ADD CONSTRAINT erasures_kind_check
                CHECK (kind IN ('agent', 'user', 'agent_user', 'turns', 'retention', 'model')),
            ADD CONSTRAINT erasures_embedding_model_check
                CHECK ((kind = 'model') = (embedding_model IS NOT NULL))
        """
    )
    op.execute("GRANT UPDATE (embedding) ON conversation_embeddings TO konstruct_eraser")
    op.execute("GRANT SELECT, DELETE ON turn_vectors, turn_windows TO konstruct_eraser")
    op.execute("GRANT SELECT, UPDATE ON tenant_models TO konstruct_eraser")
    with blocks.eraser_creates():
        blocks.install_as_eraser(_ERASE_MODEL_SIGNATURE, _ERASE_MODEL)


def downgrade() -> None:
    op.execute("ALTER TABLE conversation_embeddings NO FORCE ROW LEVEL SECURITY")
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM conversation_embeddings WHERE embedding IS NULL) THEN
                RAISE EXCEPTION 'cannot downgrade below 017: some tenants switched models, and '
                    'their turns keep their vectors in turn_vectors, which 016 does not know';
            END IF;
            IF EXISTS (SELECT 1 FROM erasures WHERE kind = 'model') THEN
                RAISE EXCEPTION 'cannot downgrade below 017: the erasure ledger holds entries '
                    'of kind model, which 016 cannot hold';
            END IF;
        END
        $$
        """
    )
    op.execute("ALTER TABLE conversation_embeddings FORCE ROW LEVEL SECURITY")
    op.execute(f"DROP FUNCTION {_ERASE_MODEL_SIGNATURE}")
    op.execute("REVOKE UPDATE (embedding) ON conversation_embeddings FROM konstruct_eraser")
    op.execute(
        """
        ALTER TABLE erasures
            DROP CONSTRAINT erasures_embedding_model_check,
            DROP COLUMN embedding_model,
            DROP CONSTRAINT erasures_kind_check,
            ADD CONSTRAINT erasures_kind_check
                CHECK (kind IN ('agent', 'user', 'agent_user', 'turns', 'retention'))
        """
    )
    # Windows of a second model (a switch in progress) have no place in 016's key.
    op.execute("ALTER TABLE turn_windows NO FORCE ROW LEVEL SECURITY")
    op.execute(
        """
        DELETE FROM turn_windows w USING conversation_embeddings t
        WHERE w.tenant_id = t.tenant_id AND w.turn_id = t.id AND w.agent_id = t.agent_id
          AND w.user_id = t.user_id AND w.embedding_model <> t.embedding_model
        """
    )
    op.execute("ALTER TABLE turn_windows FORCE ROW LEVEL SECURITY")
    op.execute(
        "ALTER TABLE turn_windows DROP CONSTRAINT turn_windows_pkey, "
        "ADD PRIMARY KEY (tenant_id, turn_id, agent_id, user_id, window_no)"
    )
    op.execute("DROP TABLE tenant_models, turn_vectors")
    op.execute("ALTER TABLE conversation_embeddings ALTER COLUMN embedding SET NOT NULL")
