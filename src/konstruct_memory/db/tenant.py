"""Connection pool, the one tenant switch, and the start-up check that RLS cannot be bypassed.

The tenant reaches SQL one way: ``tenant_transaction`` sets the row-level-security setting
and hands out a ``TenantConnection``, from which statements also take the ``tenant_id`` they
name explicitly (the planner uses the scope index, and a distributed deployment routes by it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import psycopg
from pgvector.psycopg import register_vector
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from konstruct_memory import tracing
from konstruct_memory.errors import ConfigurationError, UnsafeRuntimeRole

Connection = psycopg.Connection[dict[str, Any]]

# Transaction-local (third argument true) and a bound parameter: the setting vanishes at
# COMMIT/ROLLBACK, so a pooled connection can never carry a tenant into its next use.
_SET_TENANT = "SELECT set_config('app.current_tenant', %(tenant_id)s, true)"
# The same through migration 010's helper, which runs SET LOCAL: Citus propagates a SET LOCAL
# to the workers of the transaction, not a set_config() call (docs/citus.md).
_SET_LOCAL_TENANT = "SELECT konstruct_set_tenant(%(tenant_id)s)"
_switch = _SET_TENANT


def use_tenant_switch(mode: Literal["set_config", "set_local"]) -> None:
    """How this process sets the tenant of a transaction (KONSTRUCT_MEMORY_TENANT_SWITCH): one
    process serves one deployment, so the choice is the process's."""
    global _switch
    _switch = _SET_LOCAL_TENANT if mode == "set_local" else _SET_TENANT


_ROLE_FACTS = """
SELECT current_user AS role,
       r.rolsuper AS superuser,
       r.rolbypassrls AS bypassrls,
       EXISTS (
           SELECT 1 FROM pg_roles g
           WHERE (g.rolsuper OR g.rolbypassrls) AND g.oid <> r.oid
             AND pg_has_role(current_user, g.oid, 'MEMBER')
       ) AS member_of_privileged,
       EXISTS (
           SELECT 1 FROM pg_roles e
           WHERE e.rolname = 'konstruct_eraser' AND pg_has_role(current_user, e.oid, 'MEMBER')
       ) AS member_of_eraser,
       (SELECT array_agg(c.relname::text ORDER BY c.relname)
          FROM pg_class c
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
         WHERE c.relkind IN ('r', 'p') AND NOT a.attisdropped
           AND pg_has_role(current_user, c.relowner, 'MEMBER')) AS owned_tenant_tables,
       has_database_privilege(current_database(), 'TEMPORARY') AS can_stage
FROM pg_roles r WHERE r.rolname = current_user
"""


@dataclass(frozen=True)
class TenantConnection:
    """A connection inside a transaction confined to ``tenant_id``. Only
    ``tenant_transaction`` makes one; store functions take it and never commit."""

    conn: Connection
    tenant_id: UUID
    on_replica: bool = False  # a read-only standby: reads only, and never audited ones

    def params(self, **values: Any) -> dict[str, Any]:
        """Statement parameters with ``tenant_id`` filled in."""
        return {"tenant_id": self.tenant_id, **values}


def _configure(conn: psycopg.Connection[Any]) -> None:
    register_vector(conn)
    tracing.active().instrument(conn)  # a span per statement when tracing is on


def create_pool(
    url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    timeout: float = 5.0,
    open_timeout: float | None = None,
    wait: bool = True,
    check: bool = False,
) -> ConnectionPool[Connection]:
    """A pool of autocommit connections: a transaction exists only where code opens one.
    ``timeout`` is the wait for a connection on the request path; ``open_timeout`` (default
    the same) the wait for the first connections at start; ``wait=False`` opens without
    connecting (a server that is down now is reached later); ``check`` tests each connection
    as it leaves the pool (one round trip), so a server restarted since is noticed there."""
    pool: ConnectionPool[Connection] = ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        kwargs={"autocommit": True, "row_factory": dict_row},
        configure=_configure,
        check=ConnectionPool.check_connection if check else None,
        open=False,
        name="konstruct-memory",
    )
    pool.open(wait=wait, timeout=open_timeout or timeout)
    return pool


@contextmanager
def tenant_transaction(
    pool: ConnectionPool[Connection], tenant_id: UUID
) -> Iterator[TenantConnection]:
    """Open a transaction in which row-level security sees ``tenant_id`` and nothing else.

    This (with ``tenant_transaction_on``) is the only place the tenant is set. The transaction
    commits when the block ends and rolls back if it raises; in both cases the setting is gone
    before the connection returns to the pool.
    """
    with pool.connection() as conn, tenant_transaction_on(conn, tenant_id) as tx:
        yield tx


@contextmanager
def tenant_transaction_on(
    conn: Connection, tenant_id: UUID, *, on_replica: bool = False
) -> Iterator[TenantConnection]:
    """``tenant_transaction`` on a connection the caller holds (and returns to its pool)."""
    if not isinstance(tenant_id, UUID):
        raise TypeError(f"tenant_id must be a UUID, not {type(tenant_id).__name__}")
    with conn.transaction():
        conn.execute(_switch, {"tenant_id": str(tenant_id)})
        yield TenantConnection(conn, tenant_id, on_replica)


def assert_least_privilege(conn: psycopg.Connection[Any]) -> None:
    """Refuse a runtime connection that could bypass row-level security, or cannot write.

    Superusers and BYPASSRLS roles ignore policies; a table owner (or a member of the owner
    role) can switch FORCE off; a member of konstruct_eraser may delete any turn. Any of these
    would let one tenant's request see or change another's rows.
    Writes stage batches in a temporary table, which needs TEMPORARY on the database.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        facts = cur.execute(_ROLE_FACTS).fetchone()
    if facts is None:  # pg_roles always lists current_user; a proxy could still lie
        raise ConfigurationError("could not read the runtime role's privileges")
    role = facts["role"]
    problems = []
    if facts["superuser"]:
        problems.append("it is a superuser")
    if facts["bypassrls"]:
        problems.append("it has BYPASSRLS")
    if facts["member_of_privileged"]:
        problems.append("it is a member of a superuser or BYPASSRLS role")
    if facts["member_of_eraser"]:
        problems.append("it is a member of konstruct_eraser, which may delete any turn")
    if facts["owned_tenant_tables"]:
        problems.append(
            "it owns (or is a member of the owner of) " + ", ".join(facts["owned_tenant_tables"])
        )
    if problems:
        raise UnsafeRuntimeRole(
            f"refusing to start: the runtime role {role!r} could bypass row-level security "
            f"because {' and '.join(problems)}. Point KONSTRUCT_MEMORY_DATABASE_URL at a LOGIN "
            "role that is only a member of konstruct_app, e.g. "
            "CREATE ROLE konstruct_runtime LOGIN PASSWORD '...'; "
            "GRANT konstruct_app TO konstruct_runtime; "
            "(see docs/operations.md, 'External PostgreSQL')."
        )
    if not facts["can_stage"]:
        raise ConfigurationError(
            f"refusing to start: the runtime role {role!r} cannot create temporary tables, "
            "which remember uses to stage batches. Grant it, as the database owner: "
            "GRANT TEMPORARY ON DATABASE <database> TO konstruct_app;"
        )
