"""Tenants and API keys. Administration runs on the owner connection (it spans tenants by
nature); authentication runs as the runtime role through a SECURITY DEFINER function that
answers only for a presented key's hash."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.rows import args_row, class_row

from konstruct_memory.db.tenant import Connection
from konstruct_memory.errors import KonstructMemoryError
from konstruct_memory.store.rows import KeyRow, PrincipalRow, TenantRow, columns

_TENANT_COLUMNS = columns(TenantRow)
_CREATE_TENANT = sql.SQL("INSERT INTO tenants (name) VALUES (%(name)s) RETURNING {}").format(
    _TENANT_COLUMNS
)
_LIST_TENANTS = sql.SQL("SELECT {} FROM tenants ORDER BY created_at, id").format(_TENANT_COLUMNS)
_POLICY_FIELDS = ("retention_days", "audit_reads", "audit_query_text", "rate_limit_per_s")
_TENANT_EXISTS = "SELECT 1 FROM tenants WHERE id = %(tenant_id)s"

_CREATE_KEY = """
INSERT INTO api_keys (tenant_id, key_hash, name, agent_id, user_id, scopes)
VALUES (%(tenant_id)s, %(key_hash)s, %(name)s, %(agent_id)s, %(user_id)s, %(scopes)s)
RETURNING id, tenant_id, name, agent_id, user_id, scopes, created_at, revoked_at
"""
_LIST_KEYS = """
SELECT id, tenant_id, name, agent_id, user_id, scopes, created_at, revoked_at
FROM api_keys WHERE tenant_id = %(tenant_id)s ORDER BY created_at, id
"""
_REVOKE_KEY = """
UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = %(key_id)s
RETURNING id
"""
_AUTHENTICATE = sql.SQL("SELECT {columns} FROM konstruct_authenticate(%(key_hash)s)").format(
    columns=columns(PrincipalRow)
)


def create_tenant(conn: Connection, name: str) -> TenantRow:
    with conn.cursor(row_factory=class_row(TenantRow)) as cur:
        row = cur.execute(_CREATE_TENANT, {"name": name}).fetchone()
    if row is None:
        raise KonstructMemoryError("creating a tenant returned no row")
    return row


def list_tenants(conn: Connection) -> list[TenantRow]:
    with conn.cursor(row_factory=class_row(TenantRow)) as cur:
        return cur.execute(_LIST_TENANTS).fetchall()


def update_tenant(conn: Connection, tenant_id: UUID, changes: dict[str, Any]) -> TenantRow | None:
    """Set the given policy fields (absent ones stay); None if there is no such tenant."""
    assignments = [
        sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name))
        for name in _POLICY_FIELDS
        if name in changes
    ]
    if assignments:
        query = sql.SQL("UPDATE tenants SET {} WHERE id = %(tenant_id)s RETURNING {}").format(
            sql.SQL(", ").join(assignments), _TENANT_COLUMNS
        )
    else:
        query = sql.SQL("SELECT {} FROM tenants WHERE id = %(tenant_id)s").format(_TENANT_COLUMNS)
    with conn.cursor(row_factory=class_row(TenantRow)) as cur:
        return cur.execute(query, {"tenant_id": tenant_id, **changes}).fetchone()


def tenant_exists(conn: Connection, tenant_id: UUID) -> bool:
    return conn.execute(_TENANT_EXISTS, {"tenant_id": tenant_id}).fetchone() is not None


def create_api_key(
    conn: Connection,
    tenant_id: UUID,
    key_hash: bytes,
    *,
    name: str | None,
    agent_id: UUID | None,
    user_id: str | None,
    scopes: list[str],
) -> KeyRow:
    params = {
        "tenant_id": tenant_id,
        "key_hash": key_hash,
        "name": name,
        "agent_id": agent_id,
        "user_id": user_id,
        "scopes": scopes,
    }
    with conn.cursor(row_factory=class_row(KeyRow)) as cur:
        row = cur.execute(_CREATE_KEY, params).fetchone()
    if row is None:
        raise KonstructMemoryError("creating an API key returned no row")
    return row


def list_api_keys(conn: Connection, tenant_id: UUID) -> list[KeyRow]:
    with conn.cursor(row_factory=class_row(KeyRow)) as cur:
        return cur.execute(_LIST_KEYS, {"tenant_id": tenant_id}).fetchall()


def revoke_api_key(conn: Connection, key_id: UUID) -> bool:
    return conn.execute(_REVOKE_KEY, {"key_id": key_id}).fetchone() is not None


def authenticate(conn: Connection, key_hash: bytes) -> PrincipalRow | None:
    """Who a live key with this hash is, or None. Runs as the runtime role."""
    with conn.cursor(row_factory=args_row(PrincipalRow)) as cur:
        return cur.execute(_AUTHENTICATE, {"key_hash": key_hash}).fetchone()
