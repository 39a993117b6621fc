"""Keyword postings: each turn's lexemes in a B-tree, so that a heavy scope is searched by words.

Revision ID: 018
Revises: 017
Create Date: 2026-12-04

Under row-level security the GIN index on ``content_tsv`` is unusable (``@@`` is not
leakproof, so PostgreSQL may not test it before the tenant policy), so the keyword stage read
every turn it searched and, to stay bounded, searched a scope's most recent 5,000 turns only.
``keyword_postings`` holds one row per (turn, lexeme of its ``content_tsv``); text equality is
leakproof, so its B-tree is used under the policy: the turns holding a word within a scope, and
how many they are, are one index range whatever the scope's size (BENCHMARKS.md, "Heavy
scopes").

* The key is (tenant, agent, lexeme, user, turn): its prefix serves a user's scope (tenant,
  agent, lexeme, user) and an agent's across users (tenant, agent, lexeme), and counting a
  word's turns reads the index alone. ``tenant_id`` leads (Citus: distributed by it and
  colocated with the turns, docs/citus.md).
* Statement-level triggers keep it exact in the transaction that changes the turns, whichever
  path that is (``remember``, ``import``, the removal functions of erasure and retention, a
  tenant's deletion): after an insert, the new turns' lexemes are added; after a delete, the
  removed turns' lexemes (their stored ``content_tsv``, from which the postings were made) are
  removed through the key. No foreign key: a cascade would need a second index led by the turn,
  and a check per posting row would run on every insert. Turns are never updated (nobody but
  the owner may), so no update trigger.
* The trigger functions are ``SECURITY DEFINER``, owned by the migrating role, with a pinned
  ``search_path``: the runtime role may only ``SELECT`` postings, as on the scope summaries;
  its grants on the turns are unchanged. Row-level security is forced with the tenants' policy;
  a second policy lets the owner (so the trigger functions) maintain any tenant's rows.
* Existing turns get their postings here, tenant by tenant and in batches along the turns'
  primary key (a bounded statement each), while a SHARE lock holds writes to the turns off
  (reads go on) until the commit; the key is built once, after the rows, which is several
  times faster than growing it row by row. About 45 s for a million turns of chat on 2 cores.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from konstruct_memory.migrations import blocks

revision: str = "018"
down_revision: str | None = "017"

# Turns per backfill statement; a database may set another (``ALTER DATABASE ... SET
# konstruct_memory.backfill_batch = ...``, as the tests do to cross batch edges).
BACKFILL_BATCH = 50_000
_BATCH_SETTING = "SELECT current_setting('konstruct_memory.backfill_batch', true)"

_KEPT = blocks.TurnTriggers("keyword_postings")

_TABLE = """
CREATE TABLE keyword_postings (
    tenant_id uuid NOT NULL,
    agent_id uuid NOT NULL,
    lexeme text NOT NULL,
    user_id text NOT NULL,
    turn_id uuid NOT NULL
)
"""
_KEY = (
    "ALTER TABLE keyword_postings ADD CONSTRAINT keyword_postings_pkey "
    "PRIMARY KEY (tenant_id, agent_id, lexeme, user_id, turn_id)"
)


_ADDED_BODY = blocks.function_text(
    _KEPT.head("added"),
    """\
BEGIN
    -- A batch holds one tenant; the loop names it in each statement (Citus routes by it).
    FOR v_tenant IN SELECT DISTINCT a.tenant_id FROM added a LOOP
        INSERT INTO public.keyword_postings (tenant_id, agent_id, lexeme, user_id, turn_id)
        SELECT v_tenant, a.agent_id, w.lexeme, a.user_id, a.id
        FROM added a CROSS JOIN LATERAL unnest(tsvector_to_array(a.content_tsv)) AS w(lexeme)
        WHERE a.tenant_id = v_tenant;
    END LOOP;
    RETURN NULL;
END
$$
""",
)

_REMOVED_BODY = blocks.function_text(
    _KEPT.head("removed"),
    """\
BEGIN
    FOR v_tenant IN SELECT DISTINCT r.tenant_id FROM removed r LOOP
        -- The removed turns' stored lexemes are exactly their postings: each is found by key.
        DELETE FROM public.keyword_postings p
        USING (SELECT r.agent_id, w.lexeme, r.user_id, r.id
               FROM removed r
               CROSS JOIN LATERAL unnest(tsvector_to_array(r.content_tsv)) AS w(lexeme)
               WHERE r.tenant_id = v_tenant) g
        WHERE p.tenant_id = v_tenant AND p.agent_id = g.agent_id AND p.lexeme = g.lexeme
          AND p.user_id = g.user_id AND p.turn_id = g.id;
    END LOOP;
    RETURN NULL;
END
$$
""",
)


# The owner sees a tenant's turns (FORCE) once the transaction is set to that tenant.
_TENANTS = "SELECT id FROM tenants ORDER BY id"
_SET_TENANT = "SELECT set_config('app.current_tenant', CAST(:tenant AS text), true)"
# The last key of the next batch of turns after ``after`` (none: the rest is one batch).
_BATCH_END = """
SELECT id, agent_id, user_id FROM conversation_embeddings
WHERE tenant_id = :tenant AND (id, agent_id, user_id) > (:id, :agent_id, :user_id)
ORDER BY id, agent_id, user_id OFFSET :batch - 1 LIMIT 1
"""
_BACKFILL = """
INSERT INTO keyword_postings (tenant_id, agent_id, lexeme, user_id, turn_id)
SELECT t.tenant_id, t.agent_id, w.lexeme, t.user_id, t.id
FROM conversation_embeddings t
CROSS JOIN LATERAL unnest(tsvector_to_array(t.content_tsv)) AS w(lexeme)
WHERE t.tenant_id = :tenant AND (t.id, t.agent_id, t.user_id) > (:id, :agent_id, :user_id)
"""
_UP_TO = " AND (t.id, t.agent_id, t.user_id) <= (:end_id, :end_agent_id, :end_user_id)"
# Below every stored turn's key (a user id is never empty).
_NIL = "00000000-0000-0000-0000-000000000000"


def _backfill() -> None:
    """Postings for every stored turn, a bounded statement at a time."""
    bind = op.get_bind()
    log = logging.getLogger("alembic.runtime.migration")
    # Writes to the turns wait until the commit; reads go on.
    bind.execute(sa.text("LOCK TABLE conversation_embeddings IN SHARE MODE"))
    bind.execute(sa.text("SET LOCAL maintenance_work_mem = '512MB'"))
    batch = int(bind.execute(sa.text(_BATCH_SETTING)).scalar() or BACKFILL_BATCH)
    for tenant in bind.execute(sa.text(_TENANTS)).scalars().all():
        bind.execute(sa.text(_SET_TENANT), {"tenant": str(tenant)})
        after = {"tenant": tenant, "id": _NIL, "agent_id": _NIL, "user_id": ""}
        turns = 0
        while True:
            end = bind.execute(sa.text(_BATCH_END), {**after, "batch": batch}).first()
            if end is None:  # the rest, fewer than a batch
                bind.execute(sa.text(_BACKFILL), after)
                break
            bounds = {"end_id": end.id, "end_agent_id": end.agent_id, "end_user_id": end.user_id}
            bind.execute(sa.text(_BACKFILL + _UP_TO), after | bounds)
            turns += batch
            after |= {"id": end.id, "agent_id": end.agent_id, "user_id": end.user_id}
            log.info("keyword postings: %d turns of tenant %s so far", turns, tenant)
    bind.execute(sa.text("SELECT set_config('app.current_tenant', '', true)"))


def upgrade() -> None:
    op.execute(_TABLE)
    op.execute(
        "COMMENT ON TABLE keyword_postings IS 'One row per (turn, lexeme of its content_tsv), "
        "kept by triggers on conversation_embeddings: the keyword stage''s index under RLS'"
    )
    blocks.confine_to_tenant("keyword_postings")
    op.execute("CREATE POLICY owner_administers ON keyword_postings TO CURRENT_USER USING (true)")
    op.execute("GRANT SELECT ON keyword_postings TO konstruct_app")
    _KEPT.install(_ADDED_BODY, _REMOVED_BODY)
    _backfill()
    op.execute(_KEY)
    op.execute("ANALYZE keyword_postings")


def downgrade() -> None:
    _KEPT.drop()
    op.execute("DROP TABLE keyword_postings")
