"""Start-up: find the database, bring the schema up, open the pool, refuse unsafe roles."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from konstruct_memory.config import Settings
from konstruct_memory.db import migrate
from konstruct_memory.db.tenant import Connection, assert_least_privilege, create_pool
from konstruct_memory.db.urls import DatabaseUrls, resolve


def open_pool(
    settings: Settings,
    *,
    auto_migrate: bool = True,
    urls: DatabaseUrls | None = None,
) -> ConnectionPool[Connection]:
    """The runtime pool, ready for tenant work.

    With ``auto_migrate`` the schema is upgraded first (which needs the owner URL); without
    it, a schema behind the code is refused with SchemaOutOfDate. Either way, a runtime role
    that could bypass row-level security is refused with UnsafeRuntimeRole.
    """
    urls = urls or resolve(settings)
    if auto_migrate and urls.admin is not None:
        migrate.upgrade(urls.admin)
    pool = create_pool(
        urls.runtime,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout=settings.pool_timeout,
    )
    try:
        with pool.connection() as conn:
            assert_least_privilege(conn)
        migrate.require_head(urls.runtime)
    except BaseException:
        pool.close()
        raise
    return pool
