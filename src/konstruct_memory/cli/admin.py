"""Tenant and API-key administration, directly on the owner connection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from konstruct_memory.cli.access import agent_option, user_option
from konstruct_memory.cli.settings import settings_of
from konstruct_memory.library import Memory
from konstruct_memory.operations import UNCHANGED, Unchanged

tenant_app = typer.Typer(
    help="Create, list and update tenants (owner connection).", no_args_is_help=True
)
key_app = typer.Typer(
    help="Create, list and revoke tenant API keys (owner connection).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(tenant_app, name="tenant")
    app.add_typer(key_app, name="key")


@contextmanager
def _memory(ctx: typer.Context) -> Iterator[Memory]:
    with Memory.open(settings_of(ctx)) as memory:
        yield memory


@tenant_app.command("create")
def create_tenant(
    ctx: typer.Context, name: str = typer.Argument(..., help="Display name of the tenant.")
) -> None:
    """Create a tenant and its first API key; prints both (the key is shown only now)."""
    with _memory(ctx) as memory:
        tenant = memory.create_tenant(name)
    typer.echo(
        f"tenant_id: {tenant.id}\napi_key_id: {tenant.api_key_id}\napi_key: {tenant.api_key}"
    )


@tenant_app.command("list")
def list_tenants(ctx: typer.Context) -> None:
    """List tenants: id, creation time, name."""
    with _memory(ctx) as memory:
        for tenant in memory.list_tenants():
            typer.echo(
                f"{tenant.id}  {tenant.created_at.isoformat(timespec='seconds')}  {tenant.name}"
            )


@tenant_app.command("update")
def update_tenant(
    ctx: typer.Context,
    tenant_id: str = typer.Argument(..., help="The tenant to change."),
    retention_days: str | None = typer.Option(
        None, help="Remove turns older than this many days; 'keep' keeps them forever."
    ),
    audit_reads: bool | None = typer.Option(
        None, "--audit-reads/--no-audit-reads", help="Record every recall, history and context."
    ),
    audit_query_text: bool | None = typer.Option(
        None,
        "--audit-query-text/--no-audit-query-text",
        help="Also record the query text of audited reads.",
    ),
    rate_limit_per_s: str | None = typer.Option(
        None, help="Requests per second the tenant's keys may make; 'none' lifts the limit."
    ),
) -> None:
    """Change a tenant's retention window, read audit and rate limit; what is not given
    stays."""
    days: int | Unchanged | None = UNCHANGED
    if retention_days is not None:
        days = None if retention_days == "keep" else int(_number(retention_days, "keep"))
    rate: float | Unchanged | None = UNCHANGED
    if rate_limit_per_s is not None:
        rate = None if rate_limit_per_s == "none" else _number(rate_limit_per_s, "none")
    with _memory(ctx) as memory:
        tenant = memory.update_tenant(
            tenant_id,
            retention_days=days,
            audit_reads=audit_reads,
            audit_query_text=audit_query_text,
            rate_limit_per_s=rate,
        )
    kept = f"{tenant.retention_days} days" if tenant.retention_days else "forever"
    limit = f"{tenant.rate_limit_per_s:g}/s" if tenant.rate_limit_per_s else "none"
    typer.echo(
        f"{tenant.id}  retention: {kept}  audit_reads: {str(tenant.audit_reads).lower()}  "
        f"audit_query_text: {str(tenant.audit_query_text).lower()}  rate_limit: {limit}"
    )


def _number(text: str, word: str) -> float:
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise typer.BadParameter(f"a number, or '{word}'") from None


@key_app.command("create")
def create_api_key(
    ctx: typer.Context,
    tenant: str | None = typer.Argument(
        None, metavar="[TENANT_ID]", help="Tenant the key acts as."
    ),
    tenant_id: str | None = typer.Option(None, "--tenant", help="Tenant (instead of TENANT_ID)."),
    name: str | None = typer.Option(None, help="A label for the key."),
    agent_id: str | None = agent_option("Bind the key to this agent (UUID)."),
    user_id: str | None = user_option("Bind the key to this user."),
    scopes: list[str] | None = typer.Option(
        None,
        "--scope",
        help="read, write, erase or audit; repeat for several (default: read, write).",
    ),
) -> None:
    """Create another API key for a tenant; prints its id and the key (shown only now)."""
    if (tenant is None) == (tenant_id is None):
        raise typer.BadParameter("give the tenant once: TENANT_ID or --tenant")
    with _memory(ctx) as memory:
        key = memory.create_api_key(
            tenant_id or str(tenant),
            name=name,
            agent_id=agent_id,
            user_id=user_id,
            scopes=scopes or None,
        )
    typer.echo(f"api_key_id: {key.id}\napi_key: {key.api_key}\nscopes: {','.join(key.scopes)}")
    for label, bound in (("agent_id", key.agent_id), ("user_id", key.user_id)):
        if bound is not None:
            typer.echo(f"{label}: {bound}")


@key_app.command("list")
def list_api_keys(
    ctx: typer.Context,
    tenant_id: str = typer.Option(..., "--tenant", help="The tenant whose keys to list."),
) -> None:
    """List a tenant's keys: id, scopes, bindings, state (never the secrets)."""
    with _memory(ctx) as memory:
        for key in memory.list_api_keys(tenant_id):
            state = "revoked" if key.revoked_at else "live"
            bound = f"agent={key.agent_id or '*'} user={key.user_id or '*'}"
            typer.echo(f"{key.id}  {state}  {','.join(key.scopes)}  {bound}  {key.name or ''}")


@key_app.command("revoke")
def revoke_api_key(
    ctx: typer.Context, key_id: str = typer.Argument(..., help="Id of the key to revoke.")
) -> None:
    """Revoke an API key: it is refused from now on."""
    with _memory(ctx) as memory:
        memory.revoke_api_key(key_id)
    typer.echo(f"revoked {key_id}")
