"""A summary per (agent, user, conversation), kept beside the turns for the scope listing.

Revision ID: 015
Revises: 014
Create Date: 2026-12-03

Listing a tenant's scopes grouped every turn of the tenant on each call: its time grew with
the tenant. ``scope_summaries`` holds, for each (tenant, agent, user, conversation) that has
turns, their count and their first and last ``occurred_at``; the listing reads it through
its key, in the listing's order, so a page costs the same at any size of the tenant.

* Statement-level triggers keep it exact: after an insert into the turns, the inserted rows
  (a transition table) are counted per scope and upserted in key order, so two batches that
  touch the same scopes take their row locks in the same order and cannot deadlock, and two
  concurrent inserts into one scope are both counted. After a delete (erasure, erasure of
  chosen turns, retention: the ``SECURITY DEFINER`` functions of 007, 009 and 012, and the
  cascade when a tenant is deleted), the affected summaries are locked in key order, a scope
  left without turns is removed, and the first or last ``occurred_at`` of a remaining scope is
  read again from the scope index only when a removed turn held it. The lock comes first so
  that this read sees every insert into the scope that committed before it.
* The trigger functions are ``SECURITY DEFINER``, owned by the migrating role (the table's
  owner), with a pinned ``search_path`` and no dynamic SQL: the runtime role and
  ``konstruct_eraser`` need no right on the summaries beyond the runtime role's ``SELECT``.
  The turns' own grants are unchanged (``SELECT`` and ``INSERT`` only).
* Row-level security is forced with the tenants' policy; a second policy lets the owner (so
  the trigger functions) maintain any tenant's rows, as on the ledger (007): a tenant's
  deletion or an operator's load does not set ``app.current_tenant``. Re-reading first and
  last needs the turns, whose policy has no such exception: a removal that leaves turns in a
  scope must run in a transaction set to their tenant, as the removal functions always do, or
  it is refused.
* The key holds ``tenant_id`` first (Citus, docs/citus.md) and treats a null conversation as
  one value (``NULLS NOT DISTINCT``); it is ordered as the listing is (null conversation
  first). Turns are never updated (nobody but the owner may), so no update trigger.
* Existing turns are summarised by the migration, with the triggers already in place and
  writes to the turns blocked until it commits, so no turn is counted twice or missed.
"""

from __future__ import annotations

from alembic import op

from konstruct_memory.migrations import blocks

revision: str = "015"
down_revision: str | None = "014"

_KEPT = blocks.TurnTriggers("scope_summaries")

_TABLE = """
CREATE TABLE scope_summaries (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent_id uuid NOT NULL,
    user_id text NOT NULL,
    conversation_id text,
    turns bigint NOT NULL CHECK (turns > 0),
    first_occurred_at timestamptz NOT NULL,
    last_occurred_at timestamptz NOT NULL
) WITH (fillfactor = 80)
"""
# Room on each page keeps the counters' updates HOT (no indexed column changes).

_KEY = """
CREATE UNIQUE INDEX scope_summaries_scope_key ON scope_summaries
    (tenant_id, agent_id, user_id, conversation_id NULLS FIRST) NULLS NOT DISTINCT
"""

_ADDED_BODY = blocks.function_text(
    _KEPT.head("added"),
    """\
BEGIN
    -- A batch holds one tenant; the loop names it in each statement (Citus routes by it).
    FOR v_tenant IN SELECT DISTINCT a.tenant_id FROM added a LOOP
        INSERT INTO public.scope_summaries AS s
            (tenant_id, agent_id, user_id, conversation_id, turns, first_occurred_at,
             last_occurred_at)
        SELECT v_tenant, a.agent_id, a.user_id, a.conversation_id, count(*),
               min(a.occurred_at), max(a.occurred_at)
        FROM added a WHERE a.tenant_id = v_tenant
        GROUP BY a.agent_id, a.user_id, a.conversation_id
        ORDER BY a.agent_id, a.user_id, a.conversation_id NULLS FIRST
        ON CONFLICT (tenant_id, agent_id, user_id, conversation_id) DO UPDATE
        SET turns = s.turns + excluded.turns,
            first_occurred_at = least(s.first_occurred_at, excluded.first_occurred_at),
            last_occurred_at = greatest(s.last_occurred_at, excluded.last_occurred_at);
    END LOOP;
    RETURN NULL;
END
$$
""",
)

_REMOVED_BODY = blocks.function_text(
    _KEPT.head("removed"),
    """\
    v_current uuid := NULLIF(current_setting('app.current_tenant', true), '')::uuid;
BEGIN
    FOR v_tenant IN SELECT DISTINCT r.tenant_id FROM removed r LOOP
        -- Locked in key order first: concurrent batches cannot deadlock, and the statements
        -- below, each with a fresh snapshot, see every insert that committed before the lock.
        PERFORM 1 FROM public.scope_summaries s
        JOIN (SELECT DISTINCT r.agent_id, r.user_id, r.conversation_id
              FROM removed r WHERE r.tenant_id = v_tenant) g
          ON s.agent_id = g.agent_id AND s.user_id = g.user_id
         AND s.conversation_id IS NOT DISTINCT FROM g.conversation_id
        WHERE s.tenant_id = v_tenant
        ORDER BY s.agent_id, s.user_id, s.conversation_id NULLS FIRST
        FOR UPDATE OF s;
        DELETE FROM public.scope_summaries s
        USING (SELECT r.agent_id, r.user_id, r.conversation_id, count(*) AS turns
               FROM removed r WHERE r.tenant_id = v_tenant
               GROUP BY r.agent_id, r.user_id, r.conversation_id) g
        WHERE s.tenant_id = v_tenant AND s.agent_id = g.agent_id AND s.user_id = g.user_id
          AND s.conversation_id IS NOT DISTINCT FROM g.conversation_id
          AND s.turns <= g.turns;
        -- First and last are read again only where a removed turn held them; the turns of
        -- another tenant than the transaction's are invisible here, so that case is refused.
        IF v_tenant IS DISTINCT FROM v_current AND EXISTS (
            SELECT 1 FROM public.scope_summaries s
            JOIN (SELECT DISTINCT r.agent_id, r.user_id, r.conversation_id
                  FROM removed r WHERE r.tenant_id = v_tenant) g
              ON s.agent_id = g.agent_id AND s.user_id = g.user_id
             AND s.conversation_id IS NOT DISTINCT FROM g.conversation_id
            WHERE s.tenant_id = v_tenant)
        THEN
            RAISE EXCEPTION 'turns of tenant % were removed outside a transaction set to it',
                v_tenant
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Remove turns with konstruct_erase, konstruct_erase_turns or '
                             'konstruct_expire, or set app.current_tenant to their tenant first.';
        END IF;
        UPDATE public.scope_summaries s
        SET turns = s.turns - g.turns,
            first_occurred_at = CASE WHEN g.first_occurred_at > s.first_occurred_at
                THEN s.first_occurred_at
                ELSE (SELECT t.occurred_at FROM public.conversation_embeddings t
                      WHERE t.tenant_id = v_tenant AND t.agent_id = s.agent_id
                        AND t.user_id = s.user_id
                        AND t.conversation_id IS NOT DISTINCT FROM s.conversation_id
                      ORDER BY t.occurred_at, t.seq LIMIT 1) END,
            last_occurred_at = CASE WHEN g.last_occurred_at < s.last_occurred_at
                THEN s.last_occurred_at
                ELSE (SELECT t.occurred_at FROM public.conversation_embeddings t
                      WHERE t.tenant_id = v_tenant AND t.agent_id = s.agent_id
                        AND t.user_id = s.user_id
                        AND t.conversation_id IS NOT DISTINCT FROM s.conversation_id
                      ORDER BY t.occurred_at DESC, t.seq DESC LIMIT 1) END
        FROM (SELECT r.agent_id, r.user_id, r.conversation_id, count(*) AS turns,
                     min(r.occurred_at) AS first_occurred_at,
                     max(r.occurred_at) AS last_occurred_at
              FROM removed r WHERE r.tenant_id = v_tenant
              GROUP BY r.agent_id, r.user_id, r.conversation_id) g
        WHERE s.tenant_id = v_tenant AND s.agent_id = g.agent_id AND s.user_id = g.user_id
          AND s.conversation_id IS NOT DISTINCT FROM g.conversation_id;
    END LOOP;
    RETURN NULL;
END
$$
""",
)


# Run as the owner with FORCE lifted inside this transaction (it would hide every turn); the
# triggers exist already and the ALTER holds writers off until the commit.
_BACKFILL = """
INSERT INTO scope_summaries
    (tenant_id, agent_id, user_id, conversation_id, turns, first_occurred_at, last_occurred_at)
SELECT tenant_id, agent_id, user_id, conversation_id, count(*), min(occurred_at),
       max(occurred_at)
FROM conversation_embeddings
GROUP BY tenant_id, agent_id, user_id, conversation_id
"""


def upgrade() -> None:
    op.execute(_TABLE)
    op.execute(
        "COMMENT ON TABLE scope_summaries IS 'Turn count and first and last occurred_at per "
        "(agent, user, conversation), kept by triggers on conversation_embeddings'"
    )
    op.execute(_KEY)
    blocks.confine_to_tenant("scope_summaries")
    op.execute("CREATE POLICY owner_administers ON scope_summaries TO CURRENT_USER USING (true)")
    op.execute("GRANT SELECT ON scope_summaries TO konstruct_app")
    _KEPT.install(_ADDED_BODY, _REMOVED_BODY)
    op.execute("ALTER TABLE conversation_embeddings NO FORCE ROW LEVEL SECURITY")
    op.execute(_BACKFILL)
    op.execute("ALTER TABLE conversation_embeddings FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    _KEPT.drop()
    op.execute("DROP TABLE scope_summaries")
