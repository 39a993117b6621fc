"""How a turn command reaches memory: over HTTP with an API key, or directly as a tenant."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import typer

from konstruct_memory.cli.settings import settings_of
from konstruct_memory.errors import ConfigurationError

ApiKey = typer.Option(
    None,
    "--api-key",
    envvar="KONSTRUCT_MEMORY_API_KEY",
    help="Tenant API key: talk to the HTTP service at --url.",
)
Url = typer.Option(
    "http://127.0.0.1:8080",
    "--url",
    envvar="KONSTRUCT_MEMORY_URL",
    help="Base URL of the HTTP service.",
)
TenantId = typer.Option(None, "--tenant", help="Tenant id: use the database directly instead.")


def agent_option(help: str) -> Any:
    """An optional ``--agent`` (also ``--agent-id``), as the erasure and key commands take."""
    return typer.Option(None, "--agent", "--agent-id", help=help)


def user_option(help: str) -> Any:
    """An optional ``--user`` (also ``--user-id``)."""
    return typer.Option(None, "--user", "--user-id", help=help)


@contextmanager
def memory_for(
    ctx: typer.Context,
    api_key: str | None,
    url: str,
    tenant: str | None,
    *,
    defer_vector_index: bool = False,
) -> Iterator[Any]:
    """A Client (HTTP) or a TenantMemory (direct): the same methods and parameters either way."""
    if (api_key is None) == (tenant is None):
        raise ConfigurationError("give exactly one of --api-key (HTTP) or --tenant (direct)")
    if api_key is not None:
        if defer_vector_index:
            raise ConfigurationError(
                "--defer-vector-index drops an index of the whole database: it needs --tenant "
                "(direct, owner connection), not --api-key"
            )
        from konstruct_memory.client import Client

        with Client(url, api_key) as client:
            yield client
        return
    from konstruct_memory.library import Memory

    with Memory.open(settings_of(ctx)) as memory:
        deferred = memory.vector_index_deferred() if defer_vector_index else nullcontext()
        with deferred:
            yield memory.tenant(str(tenant))
