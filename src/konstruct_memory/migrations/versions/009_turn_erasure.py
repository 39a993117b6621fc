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

from konstruct_memory.migrations import blocks

revision: str = "009"
down_revision: str | None = "008"

_SIGNATURE = (
    "konstruct_erase_turns(uuid[], uuid, text, bytea, uuid, timestamptz, timestamptz, uuid)"
)

_ERASE_TURNS = blocks.function_text(
    """
CREATE FUNCTION konstruct_erase_turns(
    p_turns uuid[], p_agent uuid, p_user text, p_subject bytea, p_key uuid,
    p_requested_at timestamptz, p_stored_before timestamptz, p_replay_of uuid)
""",
    blocks.ERASER_RETURNS,
    blocks.PLANNED_PER_CALL,
    blocks.ERASE_TURNS_DECLARES,
    blocks.refuse_bad_turn_erasure("konstruct_erase_turns"),
    blocks.NAMED_TURNS_IN_SCOPE,
    blocks.TOMBSTONES,
    """    SELECT count(*), coalesce(array_agg(gone.id ORDER BY gone.id), '{}')
    INTO v_turns, v_erased FROM gone;
""",
    blocks.RECORD_ERASURE,
    """        (id, tenant_id, kind, subject_hash, key_id, turns_erased, audit_rows_erased,
         requested_at, replay_of, turn_ids)
    VALUES (v_id, v_tenant, 'turns', p_subject, p_key, v_turns, 0,
            coalesce(p_requested_at, clock_timestamp()), p_replay_of, v_erased)
""",
    blocks.ERASER_END,
)


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
    with blocks.eraser_creates():
        blocks.install_as_eraser(_SIGNATURE, _ERASE_TURNS)


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
