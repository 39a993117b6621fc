"""Which database to use: the configured URLs, or the embedded server (started on demand)."""

from __future__ import annotations

from dataclasses import dataclass

from konstruct_memory.config import Settings
from konstruct_memory.db.embedded import EmbeddedServer
from konstruct_memory.errors import ConfigurationError


@dataclass(frozen=True)
class DatabaseUrls:
    runtime: str
    admin: str | None

    def require_admin(self) -> str:
        if self.admin is None:
            raise ConfigurationError(
                "KONSTRUCT_MEMORY_ADMIN_DATABASE_URL is not set: migrations and tenant "
                "administration need the owner connection "
                "(see docs/operations.md, 'External PostgreSQL')."
            )
        return self.admin


def resolve(settings: Settings) -> DatabaseUrls:
    """The runtime and owner URLs; starts the embedded server when no URL is configured."""
    if settings.database_url is not None:
        return DatabaseUrls(runtime=settings.database_url, admin=settings.admin_database_url)
    if settings.admin_database_url is not None:
        raise ConfigurationError(
            "KONSTRUCT_MEMORY_ADMIN_DATABASE_URL is set but KONSTRUCT_MEMORY_DATABASE_URL is "
            "not: set both for an external PostgreSQL, or neither for the embedded server."
        )
    server = EmbeddedServer(settings.data_dir)
    server.ensure_running()
    return DatabaseUrls(runtime=server.runtime_url(), admin=server.admin_url())
