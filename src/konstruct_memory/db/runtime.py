"""Start-up: find the database, bring the schema up, open the pool, refuse unsafe roles."""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from konstruct_memory.config import Settings
from konstruct_memory.db import migrate
from konstruct_memory.db.embedded.provision import conninfo_to_url
from konstruct_memory.db.tenant import Connection, assert_least_privilege, create_pool
from konstruct_memory.db.urls import DatabaseUrls, resolve
from konstruct_memory.errors import ConfigurationError

OPEN_TIMEOUT_S = 10.0


def check_login(runtime_url: str) -> None:
    """Log in once as the runtime role, so that a refused login is reported as exactly that
    (which role, where, what to check) rather than as a pool that never filled."""
    try:
        psycopg.connect(runtime_url, connect_timeout=int(OPEN_TIMEOUT_S)).close()
    except psycopg.OperationalError as exc:
        params = conninfo_to_dict(runtime_url)
        role = params.get("user", "(default)")
        params.pop("password", None)
        where = conninfo_to_url(make_conninfo("", **params))
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ConfigurationError(
            f"the runtime role {role!r} could not log in to {where}: {reason}. Check "
            "KONSTRUCT_MEMORY_DATABASE_URL: the password, that the role exists with LOGIN, "
            "that the server is up and that pg_hba.conf admits it (docs/operations.md, "
            "'The runtime credential')."
        ) from None


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
    check_login(urls.runtime)
    pool = create_pool(
        urls.runtime,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout=settings.pool_timeout,
        open_timeout=max(settings.pool_timeout, OPEN_TIMEOUT_S),
    )
    try:
        with pool.connection() as conn:
            assert_least_privilege(conn)
        migrate.require_head(urls.runtime)
    except BaseException:
        pool.close()
        raise
    return pool
