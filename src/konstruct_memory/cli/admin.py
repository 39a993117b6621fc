"""Commands for operators: serve the API, administer tenants and API keys."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import typer

from konstruct_memory.config import Settings
from konstruct_memory.memory import Memory

tenant_app = typer.Typer(help="Create and list tenants (owner connection).", no_args_is_help=True)
key_app = typer.Typer(help="Create and revoke tenant API keys.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(tenant_app, name="tenant")
    app.add_typer(key_app, name="key")


def admin_token(settings: Settings) -> tuple[str, Path | None]:
    """The configured admin token, or one generated once and kept in the data directory."""
    if settings.admin_token:
        return settings.admin_token, None
    path = settings.data_dir / "admin-token"
    if path.exists():
        return path.read_text().strip(), path
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token = "kma_" + secrets.token_urlsafe(32)
    tmp = path.with_name(f".admin-token.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    try:
        os.link(tmp, path)  # atomic: a concurrent `serve` that won keeps its token
    except FileExistsError:
        token = path.read_text().strip()
    finally:
        tmp.unlink()
    return token, path


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8080, help="TCP port."),
    migrate: bool = typer.Option(
        True, "--migrate/--no-migrate", help="Upgrade the schema at start (needs the owner URL)."
    ),
) -> None:
    """Serve the HTTP API (embedded PostgreSQL unless KONSTRUCT_MEMORY_DATABASE_URL is set).

    Admin routes take KONSTRUCT_MEMORY_ADMIN_TOKEN; if unset, a token is generated once and
    kept in the data directory (owner-only). On SIGTERM/Ctrl-C, in-flight requests finish.
    """
    import uvicorn

    from konstruct_memory.api import create_app
    from konstruct_memory.api.observability import configure_json_logging

    settings = Settings()
    token, where = admin_token(settings)
    if where is not None:
        typer.echo(f"admin token: in {where} (set KONSTRUCT_MEMORY_ADMIN_TOKEN to choose one)")
    # Opened here, not in the app's start-up, so that a refusal (schema behind the code,
    # unsafe role) is a one-line error rather than a failed lifespan.
    with Memory.open(settings, auto_migrate=migrate) as memory:
        configure_json_logging()
        app = create_app(settings, memory=memory, admin_token=token)
        typer.echo(f"serving on http://{host}:{port} (docs at /docs)")
        uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=30, log_level="warning")


@tenant_app.command("create")
def tenant_create(name: str = typer.Argument(..., help="Display name of the tenant.")) -> None:
    """Create a tenant and its first API key; prints both (the key is shown only now)."""
    with Memory.open(Settings()) as memory:
        tenant = memory.create_tenant(name)
        key = memory.create_api_key(tenant.id)
    typer.echo(f"tenant_id: {tenant.id}\napi_key_id: {key.id}\napi_key: {key.api_key}")


@tenant_app.command("list")
def tenant_list() -> None:
    """List tenants: id, creation time, name."""
    with Memory.open(Settings()) as memory:
        for tenant in memory.list_tenants():
            typer.echo(
                f"{tenant.id}  {tenant.created_at.isoformat(timespec='seconds')}  {tenant.name}"
            )


@key_app.command("create")
def key_create(tenant_id: str = typer.Argument(..., help="Tenant the key acts as.")) -> None:
    """Create another API key for a tenant; prints its id and the key (shown only now)."""
    with Memory.open(Settings()) as memory:
        key = memory.create_api_key(tenant_id)
    typer.echo(f"api_key_id: {key.id}\napi_key: {key.api_key}")


@key_app.command("revoke")
def key_revoke(key_id: str = typer.Argument(..., help="Id of the key to revoke.")) -> None:
    """Revoke an API key: it is refused from now on."""
    with Memory.open(Settings()) as memory:
        memory.revoke_api_key(key_id)
    typer.echo(f"revoked {key_id}")
