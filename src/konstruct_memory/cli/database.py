"""Commands about the database: migrate, db-url, and the embedded server."""

from __future__ import annotations

import typer

from konstruct_memory import database_urls, migrate
from konstruct_memory.config import Settings
from konstruct_memory.embedded import EmbeddedServer
from konstruct_memory.errors import ConfigurationError

server_app = typer.Typer(
    help="Manage the embedded PostgreSQL server (used when no database URL is configured).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate_command)
    app.command("db-url")(db_url_command)
    app.add_typer(server_app, name="server")


def migrate_command() -> None:
    """Upgrade the database schema to the latest revision (idempotent).

    With no KONSTRUCT_MEMORY_DATABASE_URL this initialises and starts the embedded server first.
    Runs as the owner role (KONSTRUCT_MEMORY_ADMIN_DATABASE_URL for an external database).
    """
    urls = database_urls.resolve(Settings())
    migrate.upgrade(urls.require_admin())
    typer.echo(f"schema at revision {migrate.current_revision(urls.require_admin())}")


def db_url_command(
    admin: bool = typer.Option(False, "--admin", help="Print the owner URL instead."),
) -> None:
    """Print the runtime connection URL of the database in use.

    For example: psql "$(konstruct-memory db-url)". Starts the embedded server if needed.
    """
    urls = database_urls.resolve(Settings())
    typer.echo(urls.require_admin() if admin else urls.runtime)


def _embedded() -> EmbeddedServer:
    settings = Settings()
    if not settings.uses_embedded_server:
        raise ConfigurationError(
            "KONSTRUCT_MEMORY_DATABASE_URL is set: the embedded server is not in use"
        )
    return EmbeddedServer(settings.data_dir)


@server_app.command("start")
def server_start() -> None:
    """Initialise (if new) and start the embedded server; it keeps running after this exits."""
    server = _embedded()
    server.ensure_running()
    typer.echo(f"embedded PostgreSQL running, data in {server.data_dir}")


@server_app.command("stop")
def server_stop() -> None:
    """Stop the embedded server. Data stays in the data directory."""
    server = _embedded()
    server.stop()
    typer.echo("embedded PostgreSQL stopped")


@server_app.command("status")
def server_status() -> None:
    """Say whether the embedded server is running (exit 0) or not (exit 3)."""
    server = _embedded()
    running = server.is_running()
    typer.echo(
        f"embedded PostgreSQL {'running' if running else 'stopped'}, data in {server.data_dir}"
    )
    raise typer.Exit(0 if running else 3)
