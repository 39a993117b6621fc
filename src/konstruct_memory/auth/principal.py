"""The principal: who is acting, as one value every face hands to the engine.

An API key authenticates to a tenant principal (its tenant, key id, scopes and optional agent
and user binding); the admin token to the administrator; the library, which holds the database
credentials anyway, acts as a tenant's owner. The engine alone decides what a principal may do
(``engine.access``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from uuid import UUID

from psycopg_pool import ConnectionPool

from konstruct_memory.auth import keys
from konstruct_memory.db.tenant import Connection
from konstruct_memory.operations.fields import SCOPES, Scope
from konstruct_memory.store import tenants


@dataclass(frozen=True)
class Principal:
    tenant_id: UUID | None  # None: the administrator, who acts on no tenant's data
    key_id: UUID | None  # None: the library acting as the tenant's owner, or the admin token
    scopes: frozenset[Scope]
    agent_id: UUID | None = None  # bound: the only agent this principal may act for
    user_id: str | None = None  # bound: the only user this principal may act for
    admin: bool = False
    rate_limit_per_s: float | None = None  # the tenant's, for the HTTP faces
    # The tenant's policy when the key was presented (None: not known, the library's owner):
    # audited reads must run on the primary, which alone can write their audit row.
    audit_reads: bool | None = None

    def may_see(self, agent_id: UUID, user_id: str) -> bool:
        """Whether a turn of (agent, user) is within this principal's binding."""
        return self.agent_id in (None, agent_id) and self.user_id in (None, user_id)

    @classmethod
    def owner(cls, tenant_id: UUID) -> Principal:
        """Everything within one tenant, unbound: the library's view of a tenant."""
        return cls(tenant_id=tenant_id, key_id=None, scopes=frozenset(SCOPES))

    @classmethod
    def administrator(cls) -> Principal:
        """Tenant and key administration; no tenant's data."""
        return cls(tenant_id=None, key_id=None, scopes=frozenset(), admin=True)


ADMINISTRATOR = Principal.administrator()


def authenticate_key(pool: ConnectionPool[Connection], api_key: str) -> Principal | None:
    """The principal of a live API key, or None (unknown, malformed or revoked)."""
    if not api_key.startswith(keys.PREFIX) or len(api_key) > 200:
        return None
    with pool.connection() as conn:
        row = tenants.authenticate(conn, keys.key_hash(api_key))
    if row is None:
        return None
    return Principal(
        tenant_id=row.tenant_id,
        key_id=row.key_id,
        scopes=frozenset(s for s in SCOPES if s in row.scopes),
        agent_id=row.agent_id,
        user_id=row.user_id,
        rate_limit_per_s=row.rate_limit_per_s,
        audit_reads=row.audit_reads,
    )


def is_admin_token(presented: str, expected: str) -> bool:
    """Constant-time comparison, so timing reveals nothing of the token."""
    return secrets.compare_digest(presented.encode(), expected.encode())
