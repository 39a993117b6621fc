"""``Memory``: the library's entry point. Owns the pool and the embedder; hands out tenants."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from konstruct_memory import database_urls, embed, keys, runtime, store, vector_index
from konstruct_memory.config import Settings
from konstruct_memory.context import TokenCounter
from konstruct_memory.db import Connection
from konstruct_memory.embed import Embedder
from konstruct_memory.errors import ConfigurationError, NotFound, Unavailable
from konstruct_memory.models import check_identifier, parse_uuid
from konstruct_memory.service import Observer, RecallTuning, TenantMemory


@dataclass(frozen=True)
class ApiKey:
    id: UUID
    tenant_id: UUID
    api_key: str


@dataclass(frozen=True)
class Tenant:
    id: UUID
    name: str
    created_at: datetime


class Memory:
    """Long-term memory over one database.

    >>> with Memory.open() as memory:                        # embedded server, local model
    ...     acme = memory.tenant(memory.create_tenant("acme").id)
    ...     acme.remember([{"agent_id": agent, "user_id": "U1", "role": "user",
    ...                     "content": "My dog is called Biscuit"}])
    ...     acme.recall(agent, "U1", "what is my dog's name?")
    """

    def __init__(
        self,
        pool: ConnectionPool[Connection],
        embedder: Embedder,
        settings: Settings,
        *,
        admin_url: str | None = None,
        tuning: RecallTuning | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.pool = pool
        self.observer = observer
        self.embedder = embedder
        self.settings = settings
        self.tuning = tuning or RecallTuning()
        self._admin_url = admin_url
        self._tokens = TokenCounter()
        # Runs a recall's keyword stage while its query is embedded (TenantMemory._ranked).
        self._background = ThreadPoolExecutor(
            max_workers=settings.pool_max_size, thread_name_prefix="konstruct-memory"
        )

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        auto_migrate: bool = True,
        tuning: RecallTuning | None = None,
        observer: Observer | None = None,
    ) -> Memory:
        """Connect (starting the embedded server if no URL is configured), migrate, verify the
        runtime role cannot bypass row-level security, and load the embedder."""
        settings = settings or Settings()
        urls = database_urls.resolve(settings)
        pool = runtime.open_pool(settings, auto_migrate=auto_migrate, urls=urls)
        try:
            embedder = embedder or embed.from_settings(settings)
        except BaseException:
            pool.close()
            raise
        return cls(pool, embedder, settings, admin_url=urls.admin, tuning=tuning, observer=observer)

    def tenant(self, tenant_id: UUID | str) -> TenantMemory:
        """Memory as the given tenant sees it; every call is confined to that tenant."""
        return TenantMemory(
            self.pool,
            self.embedder,
            parse_uuid(tenant_id, "tenant_id"),
            self.settings,
            self._tokens,
            self.tuning,
            self._background,
            self.observer,
        )

    def create_tenant(self, name: str) -> Tenant:
        """Create a tenant (needs the owner connection)."""
        name = check_identifier(name, "name", 200)
        with self._admin() as conn:
            return Tenant(**store.create_tenant(conn, name))

    def list_tenants(self) -> list[Tenant]:
        with self._admin() as conn:
            return [Tenant(**row) for row in store.list_tenants(conn)]

    def create_api_key(self, tenant_id: UUID | str) -> ApiKey:
        """A new key for the tenant. The key itself is returned here and never again."""
        tenant = parse_uuid(tenant_id, "tenant_id")
        key = keys.new_key()
        with self._admin() as conn:
            if not store.tenant_exists(conn, tenant):
                raise NotFound("tenant_id: no such tenant")
            row = store.create_api_key(conn, tenant, keys.key_hash(key))
        return ApiKey(id=row["id"], tenant_id=tenant, api_key=key)

    def revoke_api_key(self, key_id: UUID | str) -> None:
        """Refuse the key from now on. Raises NotFound for an unknown key id."""
        key = parse_uuid(key_id, "key_id")
        with self._admin() as conn:
            if not store.revoke_api_key(conn, key):
                raise NotFound("key_id: no such API key")

    def authenticate(self, api_key: str) -> UUID | None:
        """The tenant whose live key this is, or None (unknown, malformed or revoked)."""
        if not api_key.startswith(keys.PREFIX) or len(api_key) > 200:
            return None
        with self.pool.connection() as conn:
            return store.authenticate(conn, keys.key_hash(api_key))

    # -- the vector index (owner connection) ----------------------------------------------

    def vector_index_state(self) -> vector_index.State:
        with self._admin(autocommit=True) as conn:
            return vector_index.state(conn)

    def drop_vector_index(self) -> None:
        """Drop the HNSW index ahead of a bulk load; recall across users goes exact meanwhile."""
        with self._admin(autocommit=True) as conn:
            vector_index.drop(conn)

    def build_vector_index(self, maintenance_work_mem: str = "2GB") -> vector_index.State:
        """Build the HNSW index if it is missing, without blocking reads or writes."""
        with self._admin(autocommit=True) as conn:
            return vector_index.build(conn, maintenance_work_mem)

    @contextmanager
    def vector_index_deferred(self, maintenance_work_mem: str = "2GB") -> Iterator[None]:
        """Bulk-load inside this block: the HNSW index is dropped on entry and rebuilt on exit
        (also when the block fails), which is far faster than maintaining it row by row."""
        self.drop_vector_index()
        try:
            yield
        finally:
            self.build_vector_index(maintenance_work_mem)

    def _admin(self, *, autocommit: bool = False) -> psycopg.Connection[dict[str, Any]]:
        """A short-lived owner connection: tenant administration is rare and privileged."""
        if self._admin_url is None:
            raise ConfigurationError(
                "tenant administration needs the owner connection: set "
                "KONSTRUCT_MEMORY_ADMIN_DATABASE_URL (see README, 'External PostgreSQL')"
            )
        return psycopg.connect(self._admin_url, row_factory=dict_row, autocommit=autocommit)

    def check_health(self) -> None:
        """Raise Unavailable unless the database answers within the pool timeout."""
        try:
            with self.pool.connection(timeout=2.0) as conn:
                conn.execute("SELECT 1")
        except (psycopg.Error, PoolTimeout) as exc:
            raise Unavailable("database unavailable") from exc

    def close(self) -> None:
        self._background.shutdown(wait=True)
        self.pool.close()
        close = getattr(self.embedder, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
