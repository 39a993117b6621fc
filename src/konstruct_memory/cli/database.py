"""Commands about the database: migrate, db-url, the vector index and the embedded server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import typer

from konstruct_memory.cli.settings import owner_connection, settings_of
from konstruct_memory.db import migrate, urls
from konstruct_memory.db.embedded import EmbeddedServer
from konstruct_memory.errors import ConfigurationError
from konstruct_memory.store import vector_index

server_app = typer.Typer(
    help="Manage the embedded PostgreSQL server (used when no database URL is configured).",
    no_args_is_help=True,
)

index_app = typer.Typer(
    help="The HNSW index behind recall over large scopes: status, drop before a bulk load, "
    "build (or rebuild with this release's graph).",
    no_args_is_help=True,
)
WorkMem = typer.Option(
    "2GB", "--maintenance-work-mem", help="Memory for the build (about 2GB per million turns)."
)


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate_command)
    app.command("db-url")(db_url_command)
    app.add_typer(index_app, name="vector-index")
    app.add_typer(server_app, name="server")


def migrate_command(ctx: typer.Context) -> None:
    """Upgrade the database schema to the latest revision (idempotent).

    With no KONSTRUCT_MEMORY_DATABASE_URL this initialises and starts the embedded server first.
    Runs as the owner role (KONSTRUCT_MEMORY_ADMIN_DATABASE_URL for an external database).
    """
    admin_url = urls.resolve(settings_of(ctx)).require_admin()
    migrate.upgrade(admin_url)
    typer.echo(f"schema at revision {migrate.current_revision(admin_url)}")


def db_url_command(
    ctx: typer.Context,
    admin: bool = typer.Option(False, "--admin", help="Print the owner URL instead."),
) -> None:
    """Print the runtime connection URL of the database in use.

    For example: psql "$(konstruct-memory db-url)". Starts the embedded server if needed.
    """
    database = urls.resolve(settings_of(ctx))
    typer.echo(database.require_admin() if admin else database.runtime)


@index_app.command("status")
def index_status(ctx: typer.Context) -> None:
    """Print each index's state and graph: all ready (exit 0), one missing or invalid (exit 3)."""
    with owner_connection(ctx) as conn:
        for index in vector_index.INDEXES:
            typer.echo(_described(conn, index))
        state = vector_index.state(conn)
    raise typer.Exit(0 if state is vector_index.State.READY else 3)


def _described(conn: psycopg.Connection[Any], index: vector_index.Index) -> str:
    line = f"vector index {index.name} ({index.table}): {vector_index.state(conn, index)}"
    graph = vector_index.graph(conn, index)
    if graph is not None:
        line += f" (m = {graph[0]}, ef_construction = {graph[1]})"
        if graph != (vector_index.M, vector_index.EF_CONSTRUCTION):
            line += "; `vector-index build --rebuild` builds this release's graph"
    return line


@index_app.command("drop")
def index_drop(ctx: typer.Context) -> None:
    """Drop the indexes before a large load; recall of large scopes is exact until they are
    rebuilt."""
    with owner_connection(ctx) as conn:
        vector_index.drop(conn)
    names = ", ".join(index.name for index in vector_index.INDEXES)
    typer.echo(f"vector indexes {names} dropped; rebuild them with: vector-index build")


@index_app.command("build")
def index_build(
    ctx: typer.Context,
    maintenance_work_mem: str = WorkMem,
    rebuild: bool = typer.Option(
        False,
        "--rebuild",
        help="Replace an index with an older graph (m, ef_construction): the new one is built "
        "beside it, then takes its name.",
    ),
) -> None:
    """Build the indexes that are not ready, without blocking reads or writes."""
    with owner_connection(ctx) as conn:
        state = vector_index.build(conn, maintenance_work_mem, rebuild=rebuild)
        for index in vector_index.INDEXES:
            typer.echo(_described(conn, index))
    raise typer.Exit(0 if state is vector_index.State.READY else 3)


def _embedded(ctx: typer.Context) -> EmbeddedServer:
    settings = settings_of(ctx)
    if not settings.uses_embedded_server:
        raise ConfigurationError(
            "KONSTRUCT_MEMORY_DATABASE_URL is set: the embedded server is not in use"
        )
    return EmbeddedServer(settings.data_dir)


@server_app.command("start")
def server_start(ctx: typer.Context) -> None:
    """Initialise (if new) and start the embedded server; it keeps running after this exits."""
    server = _embedded(ctx)
    server.ensure_running()
    typer.echo(f"embedded PostgreSQL running, data in {server.data_dir}")


@server_app.command("stop")
def server_stop(ctx: typer.Context) -> None:
    """Stop the embedded server. Data stays in the data directory."""
    server = _embedded(ctx)
    server.stop()
    typer.echo("embedded PostgreSQL stopped")


@server_app.command("standby")
def server_standby(
    ctx: typer.Context,
    directory: Path | None = typer.Option(
        None, "--dir", help="The standby's data directory (default: standby/ in the data dir)."
    ),
) -> None:
    """Start a local streaming replica of the embedded server (made on first use), and print the
    URL to put in KONSTRUCT_MEMORY_REPLICA_URL. Stop it with KONSTRUCT_MEMORY_DATA_DIR=<its
    directory> konstruct-memory server stop."""
    primary = _embedded(ctx)
    primary.ensure_running()
    standby = EmbeddedServer(directory or primary.data_dir / "standby")
    if standby.is_initialised():
        standby.ensure_running()
    else:
        standby.make_standby_of(primary)
    typer.echo(f"standby of the embedded server running, data in {standby.data_dir}", err=True)
    typer.echo(f"KONSTRUCT_MEMORY_REPLICA_URL={standby.runtime_url()}")


@server_app.command("status")
def server_status(ctx: typer.Context) -> None:
    """Say whether the embedded server is running (exit 0) or not (exit 3)."""
    server = _embedded(ctx)
    running = server.is_running()
    typer.echo(
        f"embedded PostgreSQL {'running' if running else 'stopped'}, data in {server.data_dir}"
    )
    raise typer.Exit(0 if running else 3)
