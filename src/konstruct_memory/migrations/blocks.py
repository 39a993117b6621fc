"""SQL that more than one migration emits, written once: a tenant table's policy, the grants
of a function the runtime role calls, the eraser's functions and the pieces their bodies
share, and the columns the first tables share.

A migration's SQL is part of the schema's history: what these return is exactly the text the
migrations wrote out before they shared it, byte for byte (the schema a database reaches
through them must not depend on when it was migrated). The pieces are constant DDL, never
values: the f-strings here fill in identifiers and fixed fragments only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import op

CURRENT_TENANT = "NULLIF(current_setting('app.current_tenant', true), '')::uuid"

_TENANT_POLICY = (
    "CREATE POLICY tenant_isolation ON {table}",
    f"USING (tenant_id = {CURRENT_TENANT})",
    f"WITH CHECK (tenant_id = {CURRENT_TENANT})",
)


def margin(lines: tuple[str, ...] | list[str], indent: str = "") -> str:
    """``lines`` as the text of a statement: each on its own line after ``indent``, with a
    line break before the first; an indented statement ends with the indent, as a string
    written indented inside ``op.execute(\"\"\"...\"\"\")`` does."""
    return "\n" + "".join(f"{indent}{line}\n" for line in lines) + indent


def tenant_policy(table: str, indent: str = "") -> str:
    """The policy that confines a table's rows to the transaction's tenant: none without one."""
    return margin([line.format(table=table) for line in _TENANT_POLICY], indent)


def confine_to_tenant(table: str, indent: str = "") -> None:
    """Row-level security on the table, forced (the owner too), with the tenant policy."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(tenant_policy(table, indent))


def callable_by_runtime(signature: str) -> None:
    """Only the runtime role (and the owner) may call the function."""
    op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO konstruct_app")


def install_as_eraser(signature: str, body: str) -> None:
    """Create the function, owned by ``konstruct_eraser`` (inside ``eraser_creates``), for
    the runtime role to call."""
    op.execute(body)
    op.execute(f"ALTER FUNCTION {signature} OWNER TO konstruct_eraser")
    callable_by_runtime(signature)


@contextmanager
def eraser_creates() -> Iterator[None]:
    """The functions' owner must be able to create in the schema while it becomes the owner;
    taken back after."""
    op.execute("GRANT USAGE, CREATE ON SCHEMA public TO konstruct_eraser")
    yield
    op.execute("REVOKE CREATE ON SCHEMA public FROM konstruct_eraser")


# -- the key lookup the runtime role may call (005; what 006 restores) ---------------------

FIRST_AUTHENTICATE = (
    "CREATE FUNCTION konstruct_authenticate(presented_hash bytea) RETURNS uuid",
    "LANGUAGE sql STABLE SECURITY DEFINER",
    "SET search_path = pg_catalog, pg_temp",
    "AS $$",
    "    SELECT tenant_id FROM public.api_keys",
    "    WHERE key_hash = presented_hash AND revoked_at IS NULL",
    "$$",
)


def replace_authenticate(body: str) -> None:
    """``konstruct_authenticate`` answers other columns from now on (``body``)."""
    op.execute("DROP FUNCTION konstruct_authenticate(bytea)")
    op.execute(body)
    callable_by_runtime("konstruct_authenticate(bytea)")


# -- the pieces of the eraser's functions (konstruct_erase, konstruct_erase_turns) ----------


def function_text(*parts: str) -> str:
    """A function's definition, from its parts: constant text, never values."""
    return "".join(parts)


ERASER_RETURNS = """RETURNS SETOF erasures
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
"""

ERASER_DECLARES = f"""AS $$
DECLARE
    v_tenant uuid := {CURRENT_TENANT};
    v_id uuid := gen_random_uuid();
"""


def refuse_without_tenant(function: str) -> str:
    return f"""    IF v_tenant IS NULL THEN
        RAISE EXCEPTION '{function}: no tenant is set for this transaction'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
"""


def refuse(function: str, condition: str, reason: str) -> str:
    return f"""    IF {condition} THEN
        RAISE EXCEPTION '{function}: {reason}'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
"""


def refuse_bad_subject(function: str) -> str:
    """An empty user id, or a subject hash that is not 32 bytes."""
    return refuse(function, "p_user = ''", "the user id is empty") + refuse(
        function,
        "p_subject IS NULL OR octet_length(p_subject) <> 32",
        "the subject hash must be 32 bytes",
    )


def refuse_bad_version(function: str) -> str:
    return refuse(
        function,
        "p_subject_version IS NULL OR p_subject_version NOT IN (1, 2)",
        "the subject hash version must be 1 or 2",
    )


PLANNED_PER_CALL = "SET plan_cache_mode = force_custom_plan\n"

# konstruct_erase_turns takes 1 to 1000 ids, none of them null.
NAMED_TURNS = """p_turns IS NULL OR cardinality(p_turns) NOT BETWEEN 1 AND 1000
       OR array_position(p_turns, NULL) IS NOT NULL"""

# konstruct_erase's variables: the kind of erasure, and what it removed.
ERASE_DECLARES = (
    ERASER_DECLARES
    + """    v_kind text;
    v_turns bigint;
    v_audit bigint;
BEGIN
"""
)

# konstruct_erase_turns's variables: how many turns it removed, and which.
ERASE_TURNS_DECLARES = (
    ERASER_DECLARES
    + """    v_turns bigint;
    v_erased uuid[];
BEGIN
"""
)


def refuse_bad_erasure(function: str) -> str:
    """konstruct_erase's checks: a tenant, an agent or a user, a subject hash."""
    return (
        refuse_without_tenant(function)
        + refuse(
            function,
            "p_agent IS NULL AND coalesce(p_user, '') = ''",
            "name an agent, a user, or both",
        )
        + refuse_bad_subject(function)
    )


def refuse_bad_turn_erasure(function: str) -> str:
    """konstruct_erase_turns's checks: a tenant, the turn ids, a subject hash."""
    return (
        refuse_without_tenant(function)
        + refuse(function, NAMED_TURNS, "name 1 to 1000 turn ids")
        + refuse_bad_subject(function)
    )


ERASE_KIND = """    v_kind := CASE WHEN p_agent IS NULL THEN 'user'
                   WHEN p_user IS NULL THEN 'agent'
                   ELSE 'agent_user' END;
"""

ERASE_FROM_TURNS = """    WITH gone AS (
        DELETE FROM public.conversation_embeddings t
        WHERE t.tenant_id = v_tenant
"""

IN_SCOPE = """          AND (p_agent IS NULL OR t.agent_id = p_agent)
          AND (p_user IS NULL OR t.user_id = p_user)
          AND (p_stored_before IS NULL OR t.created_at <= p_stored_before)
"""

# The erased turns' tombstones (before 012: one per id in the tenant, whatever its scope).
TOMBSTONES = """        RETURNING t.id
    ), marked AS (
        INSERT INTO public.erased_turns (tenant_id, turn_id, erasure_id)
        SELECT v_tenant, gone.id, v_id FROM gone
        ON CONFLICT DO NOTHING
    )
"""

ERASE_AUDIT_ROWS = """    DELETE FROM public.read_audit a
    WHERE a.tenant_id = v_tenant
      AND (p_agent IS NULL OR a.agent_id = p_agent)
      AND (p_user IS NULL OR a.user_id = p_user)
      AND (p_stored_before IS NULL OR a.at <= p_stored_before);
    GET DIAGNOSTICS v_audit = ROW_COUNT;
"""

# The turns konstruct_erase_turns was given, in scope.
NAMED_TURNS_IN_SCOPE = ERASE_FROM_TURNS + "          AND t.id = ANY(p_turns)\n" + IN_SCOPE

RECORD_ERASURE = """    RETURN QUERY
    INSERT INTO public.erasures AS e
"""

ERASER_END = """    RETURNING e.*;
END
$$
"""


# -- the first tables' columns -------------------------------------------------------------


def created_at() -> sa.Column[object]:
    """When the row was stored: the transaction's time."""
    return sa.Column(
        "created_at",
        sa.DateTime(timezone=True),
        nullable=False,
        server_default=sa.text("NOW()"),
    )


# -- tables kept by statement-level triggers on the turns (015, 018) -----------------------


@dataclass(frozen=True)
class TurnTriggers:
    """A table kept in step with the turns: ``{table}_added`` after each INSERT statement
    (transition table ``added``) and ``{table}_removed`` after each DELETE (``removed``), by
    the functions ``konstruct_{table}_added()`` and ``konstruct_{table}_removed()``."""

    table: str

    def function(self, which: str) -> str:
        return f"konstruct_{self.table}_{which}()"

    def head(self, which: str) -> str:
        """The start of a function's text: run by its owner, once per statement, for the
        statement's transition table, one tenant at a time (``v_tenant``)."""
        return f"""
CREATE FUNCTION {self.function(which)}
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_tenant uuid;
"""

    def install(self, added_body: str, removed_body: str) -> None:
        """Create both functions (no one else may call them) and their triggers."""
        for which, body in (("added", added_body), ("removed", removed_body)):
            op.execute(body)
            op.execute(f"REVOKE ALL ON FUNCTION {self.function(which)} FROM PUBLIC")
        for which, event, transition in (("added", "INSERT", "NEW"), ("removed", "DELETE", "OLD")):
            op.execute(
                f"CREATE TRIGGER {self.table}_{which} AFTER {event} ON conversation_embeddings "
                f"REFERENCING {transition} TABLE AS {which} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION {self.function(which)}"
            )

    def drop(self) -> None:
        """The triggers and their functions, and the runtime role's rights on the table."""
        for which in ("removed", "added"):
            op.execute(f"DROP TRIGGER {self.table}_{which} ON conversation_embeddings")
        for which in ("removed", "added"):
            op.execute(f"DROP FUNCTION {self.function(which)}")
        op.execute(f"REVOKE ALL ON {self.table} FROM konstruct_app")
