"""The Python library: ``Memory`` opens the database and the embedder and administers tenants;
``TenantMemory`` (``tenant_memory.py``) is a tenant as one principal sees it. Each method
builds the operation's request model and runs it through the engine, exactly as the HTTP
routes do."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any
from uuid import UUID

import psycopg
from psycopg_pool import PoolTimeout
from pydantic_core import PydanticCustomError

from konstruct_memory.auth.principal import ADMINISTRATOR, Principal, authenticate_key
from konstruct_memory.config import Settings
from konstruct_memory.embed import Embedder
from konstruct_memory.engine import admin, erasure
from konstruct_memory.engine.ranking import RecallTuning
from konstruct_memory.engine.resources import Observer, Resources
from konstruct_memory.engine.retention import RetentionReport
from konstruct_memory.engine.service import Engine
from konstruct_memory.errors import ConfigurationError, InvalidInput, Unavailable
from konstruct_memory.operations import (
    UNCHANGED,
    ApiKey,
    ApiKeyCreated,
    AuditEntry,
    CreateApiKeyRequest,
    CreateTenantRequest,
    EraseForTenantRequest,
    Erasure,
    ListApiKeysRequest,
    ListAuditForTenantRequest,
    ListErasuresForTenantRequest,
    ListTenantsRequest,
    RevokeApiKeyRequest,
    Tenant,
    TenantCreated,
    Unchanged,
    UpdateTenantRequest,
    build,
)
from konstruct_memory.operations.base import R, Request, arguments
from konstruct_memory.operations.fields import parse_uuid
from konstruct_memory.operations.lifecycle import LedgerEntry, changes_of
from konstruct_memory.store import health, vector_index
from konstruct_memory.tenant_memory import TenantMemory
from konstruct_memory.types import (
    AgentId,
    ErasureId,
    Instant,
    KeyId,
    KeyScopes,
    ListingOrder,
    TenantId,
    TurnIds,
    UserId,
)

__all__ = ["Memory", "TenantMemory"]


class Memory:
    """Long-term memory over one database: the library's face over ``Resources``, which own
    the pool, the embedder and the workers (``memory.resources``), and the engine that runs
    every operation on them.

    >>> with Memory.open() as memory:                        # embedded server, local model
    ...     acme = memory.tenant(memory.create_tenant("acme").id)
    ...     acme.remember([{"agent_id": agent, "user_id": "U1", "role": "user",
    ...                     "content": "My dog is called Biscuit"}])
    ...     acme.recall(agent, "U1", "what is my dog's name?")
    """

    def __init__(self, resources: Resources, engine: Engine | None = None) -> None:
        self.resources = resources
        self.engine = engine or Engine(resources)

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        auto_migrate: bool = True,
        tuning: RecallTuning | None = None,
        observer: Observer | None = None,
        serving: bool = False,
    ) -> Memory:
        """Connect (starting the embedded server if no URL is configured), migrate, verify the
        runtime role cannot bypass row-level security, and load the embedder; ``serving``
        also runs what a long-running service needs (``Resources.open``). Closing the memory
        closes them all."""
        resources = Resources.open(
            settings or Settings(),
            embedder=embedder,
            auto_migrate=auto_migrate,
            tuning=tuning,
            observer=observer,
            serving=serving,
        )
        try:
            _catch_up_ledger(resources)
        except BaseException:
            resources.close()
            raise
        return cls(resources)

    @property
    def settings(self) -> Settings:
        return self.resources.settings

    def tenant(self, tenant_id: TenantId) -> TenantMemory:
        """Memory as the tenant's owner sees it; every call is confined to that tenant."""
        return TenantMemory(self.engine, Principal.owner(_uuid(tenant_id, "tenant_id")))

    def acting_as(self, principal: Principal) -> TenantMemory:
        """Memory as ``principal`` (e.g. from ``authenticate``) may see and change it."""
        return TenantMemory(self.engine, principal)

    def authenticate(self, api_key: str) -> Principal | None:
        """The principal of a live API key, or None (unknown, malformed or revoked). While the
        primary does not answer, a replica answers (reads go on; a key revoked in the last
        moments before the outage may not have reached it)."""
        try:
            return authenticate_key(self.resources.pool, api_key)
        except (PoolTimeout, psycopg.OperationalError):
            replicas = self.resources.replicas
            standby = replicas.authenticating_pool() if replicas is not None else None
            if standby is None:
                raise
            return authenticate_key(standby, api_key)

    # -- administration (owner connection) ------------------------------------------------

    def _administer(self, request_type: type[Request[R]], local_names: dict[str, Any]) -> R:
        """Runs the request a method's arguments make (its ``locals()``: they are named after
        the request's fields) as the administrator."""
        return self.engine.run(ADMINISTRATOR, build(request_type, **arguments(local_names)))

    def create_tenant(self, name: str) -> TenantCreated:
        """Create a tenant and its first API key (read and write; the key is shown only now)."""
        return self.engine.run(ADMINISTRATOR, build(CreateTenantRequest, name=name))

    def list_tenants(self) -> list[Tenant]:
        return self.engine.run(ADMINISTRATOR, ListTenantsRequest()).tenants

    def create_api_key(
        self,
        tenant_id: TenantId,
        name: str | None = None,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        scopes: KeyScopes | None = None,
    ) -> ApiKeyCreated:
        """A new key for the tenant, optionally bound to one agent and/or user; ``scopes``
        default to read and write. The secret is returned here and never again."""
        return self._administer(CreateApiKeyRequest, locals())

    def list_api_keys(self, tenant_id: TenantId) -> list[ApiKey]:
        """The tenant's keys with their scopes and bindings (never their secrets)."""
        request = build(ListApiKeysRequest, tenant_id=tenant_id)
        return self.engine.run(ADMINISTRATOR, request).keys

    def revoke_api_key(self, key_id: KeyId) -> None:
        """Refuse the key from now on. Raises NotFound for an unknown key id."""
        self.engine.run(ADMINISTRATOR, build(RevokeApiKeyRequest, key_id=key_id))

    def update_tenant(
        self,
        tenant_id: TenantId,
        *,
        retention_days: int | Unchanged | None = UNCHANGED,
        audit_reads: bool | None = None,
        audit_query_text: bool | None = None,
        rate_limit_per_s: float | Unchanged | None = UNCHANGED,
    ) -> Tenant:
        """Change a tenant's policy; what is not given stays. ``retention_days=None`` keeps
        turns forever; ``audit_reads`` records every recall, history and context call."""
        changes = changes_of(
            tenant_id, retention_days, audit_reads, audit_query_text, rate_limit_per_s
        )
        return self.engine.run(ADMINISTRATOR, build(UpdateTenantRequest, **changes))

    def erase_for_tenant(
        self,
        tenant_id: TenantId,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        turn_ids: TurnIds | None = None,
    ) -> Erasure:
        """``tenant(tenant_id).erase(...)``, as the admin route does it."""
        return self._administer(EraseForTenantRequest, locals())

    def list_erasures_for_tenant(
        self,
        tenant_id: TenantId,
        since: Instant | None = None,
        until: Instant | None = None,
        limit: int = 100,
        order: ListingOrder = "asc",
        before: ErasureId | None = None,
    ) -> list[Erasure]:
        return self._administer(ListErasuresForTenantRequest, locals()).erasures

    def list_audit_for_tenant(
        self,
        tenant_id: TenantId,
        since: Instant | None = None,
        until: Instant | None = None,
        limit: int = 100,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        order: ListingOrder = "asc",
        before: int | None = None,
    ) -> list[AuditEntry]:
        return self._administer(ListAuditForTenantRequest, locals()).entries

    # -- the data lifecycle (erasure ledger, retention, VACUUM) -----------------------------

    def apply_retention(self, batch: int | None = None) -> RetentionReport:
        """Remove, in batches of ``batch`` turns, what every tenant's window no longer keeps."""
        return self.resources.apply_retention(batch)

    def export_erasures(self) -> list[LedgerEntry]:
        """Every tenant's erasure ledger (owner connection): keep it apart from backups."""
        return erasure.export_ledger(self.resources)

    def replay_erasures(self, entries: Iterable[LedgerEntry]) -> erasure.ReplayReport:
        """Re-apply the exported erasures a restored backup predates (see ``erasure.replay``)."""
        return erasure.replay(self.resources, entries)

    def vacuum(self, cost_delay_ms: float | None = None, cost_limit: int | None = None) -> None:
        """VACUUM the tables erasure and retention remove rows from, now, whatever
        KONSTRUCT_MEMORY_VACUUM_WINDOW says (owner connection), throttled like the VACUUM
        after removals (KONSTRUCT_MEMORY_VACUUM_COST_DELAY_MS, _COST_LIMIT) unless these are
        given: ``cost_delay_ms=0`` runs it unthrottled."""
        if self.resources.vacuum is None:
            raise ConfigurationError(
                "VACUUM needs the owner connection: set KONSTRUCT_MEMORY_ADMIN_DATABASE_URL"
            )
        self.resources.vacuum.run_now(cost_delay_ms, cost_limit)

    # -- the vector index (owner connection, outside transactions) -------------------------

    def vector_index_state(self) -> vector_index.State:
        with admin.owner_connection(self.resources, autocommit=True) as conn:
            return vector_index.state(conn)

    def drop_vector_index(self) -> None:
        """Drop the HNSW indexes ahead of a bulk load; recall of large scopes goes exact
        meanwhile."""
        with admin.owner_connection(self.resources, autocommit=True) as conn:
            vector_index.drop(conn)

    def build_vector_index(
        self, maintenance_work_mem: str = "2GB", *, rebuild: bool = False
    ) -> vector_index.State:
        """Build the HNSW indexes that are missing (``rebuild``: or whose graph is older than
        this release's), without blocking reads or writes."""
        with admin.owner_connection(self.resources, autocommit=True) as conn:
            return vector_index.build(conn, maintenance_work_mem, rebuild=rebuild)

    @contextmanager
    def vector_index_deferred(self, maintenance_work_mem: str = "2GB") -> Iterator[None]:
        """Bulk-load inside this block: the HNSW indexes (turns, windows of long turns) are
        dropped on entry and rebuilt on exit (also when the block fails), which is far faster
        than maintaining them row by row."""
        self.drop_vector_index()
        try:
            yield
        finally:
            self.build_vector_index(maintenance_work_mem)

    # -- lifecycle --------------------------------------------------------------------------

    def check_health(self, timeout: float = 0.5) -> None:
        """Raise Unavailable, saying why, unless the database answers within ``timeout``."""
        try:
            with self.resources.pool.connection(timeout=timeout) as conn:
                health.probe(conn)
        except PoolTimeout:
            raise Unavailable(f"database unavailable: no connection within {timeout} s") from None
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise Unavailable(f"database unavailable: {reason}") from None

    def close(self) -> None:
        """Stop the workers and close the connections (``Resources.close``)."""
        self.resources.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _uuid(value: TenantId, name: str) -> UUID:
    try:
        return parse_uuid(value)
    except PydanticCustomError as exc:
        raise InvalidInput(name, exc.message()) from None


def _catch_up_ledger(resources: Resources) -> None:
    """With KONSTRUCT_MEMORY_LEDGER_EXPORT, append the ledger entries the file lacks (an entry
    whose process stopped between its commit and its append)."""
    if resources.ledger is None:
        return
    if resources.admin_url is None:
        raise ConfigurationError(
            "KONSTRUCT_MEMORY_LEDGER_EXPORT needs the owner connection to read every tenant's "
            "ledger: set KONSTRUCT_MEMORY_ADMIN_DATABASE_URL as well"
        )
    resources.ledger.catch_up(erasure.export_ledger(resources))
