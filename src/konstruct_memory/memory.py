"""``Memory``: the library's entry point. Owns the pool and the embedder; hands out tenants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from konstruct_memory import database_urls, embed, runtime, store
from konstruct_memory.config import Settings
from konstruct_memory.context import TokenCounter
from konstruct_memory.db import Connection
from konstruct_memory.embed import Embedder
from konstruct_memory.models import check_identifier, parse_uuid
from konstruct_memory.service import RecallTuning, TenantMemory


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
    ) -> None:
        self.pool = pool
        self.embedder = embedder
        self.settings = settings
        self.tuning = tuning or RecallTuning()
        self._admin_url = admin_url
        self._tokens = TokenCounter()

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        auto_migrate: bool = True,
        tuning: RecallTuning | None = None,
    ) -> Memory:
        """Connect (starting the embedded server if no URL is configured), migrate, verify the
        runtime role cannot bypass row-level security, and load the embedder."""
        settings = settings or Settings()
        urls = database_urls.resolve(settings)
        pool = runtime.open_pool(settings, auto_migrate=auto_migrate)
        try:
            embedder = embedder or embed.from_settings(settings)
        except BaseException:
            pool.close()
            raise
        return cls(pool, embedder, settings, admin_url=urls.admin, tuning=tuning)

    def tenant(self, tenant_id: UUID | str) -> TenantMemory:
        """Memory as the given tenant sees it; every call is confined to that tenant."""
        return TenantMemory(
            self.pool,
            self.embedder,
            parse_uuid(tenant_id, "tenant_id"),
            self.settings,
            self._tokens,
            self.tuning,
        )

    def create_tenant(self, name: str) -> Tenant:
        """Create a tenant (needs the owner connection)."""
        name = check_identifier(name, "name", 200)
        with self._admin() as conn:
            return Tenant(**store.create_tenant(conn, name))

    def list_tenants(self) -> list[Tenant]:
        with self._admin() as conn:
            return [Tenant(**row) for row in store.list_tenants(conn)]

    def _admin(self) -> psycopg.Connection[dict[str, Any]]:
        admin_url = database_urls.DatabaseUrls(runtime="", admin=self._admin_url).require_admin()
        return psycopg.connect(admin_url, row_factory=dict_row)

    def close(self) -> None:
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
