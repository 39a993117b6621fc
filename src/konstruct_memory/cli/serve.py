"""``serve``: the HTTP API, with the admin token configured or generated once."""

from __future__ import annotations

import socket

import typer

from konstruct_memory import tracing
from konstruct_memory.cli.model import ensure_model
from konstruct_memory.cli.settings import settings_of
from konstruct_memory.config import Settings
from konstruct_memory.errors import ConfigurationError
from konstruct_memory.keyfiles import admin_token

MIN_ADMIN_TOKEN_CHARS = 32
_WHERE = "(inspector at /inspector, API docs at /docs)"


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("mcp")(mcp)


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8080, help="TCP port."),
    migrate: bool = typer.Option(
        True, "--migrate/--no-migrate", help="Upgrade the schema at start (needs the owner URL)."
    ),
    workers: int = typer.Option(
        1,
        min=1,
        help="Processes answering on the port, each with its own pool and model (about one per "
        "core; docs/operations.md, 'Many processes, many hosts').",
    ),
) -> None:
    """Serve the HTTP API (embedded PostgreSQL unless KONSTRUCT_MEMORY_DATABASE_URL is set),
    with the browser inspector at /inspector.

    On first start the embedding model's files are fetched (`model install`). Admin routes
    take KONSTRUCT_MEMORY_ADMIN_TOKEN (at least 32 characters); if unset, a token is generated
    once and kept in the data directory (owner-only). Every KONSTRUCT_MEMORY_RETENTION_INTERVAL_S
    seconds (default 3600; 0: never) the tenants' retention windows are applied. On
    SIGTERM/Ctrl-C it stops accepting, lets in-flight requests finish (at most 30 s) and
    exits 0. With the embedded server, a server that dies is started again. With --workers N,
    N processes share the port; one that dies is started again. With OTEL_EXPORTER_OTLP_ENDPOINT
    (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) set, traces go there over OTLP/HTTP (needs the
    [otel] extra; docs/operations.md, 'Traces').
    """
    from konstruct_memory.api.observability import configure_json_logging
    from konstruct_memory.library import Memory
    from konstruct_memory.serving.workers import Workers, bind

    refuse_tracing_without_extra()
    settings = settings_of(ctx)
    token, where = admin_token(settings)
    if len(token) < MIN_ADMIN_TOKEN_CHARS:
        raise ConfigurationError(
            f"KONSTRUCT_MEMORY_ADMIN_TOKEN is {len(token)} characters; it must have at least "
            f"{MIN_ADMIN_TOKEN_CHARS} (unset it and one is generated)"
        )
    if where is not None:
        typer.echo(f"admin token: in {where} (set KONSTRUCT_MEMORY_ADMIN_TOKEN to choose one)")
    ensure_model(settings)
    configure_json_logging()  # before start-up, so the migration's records are JSON too
    if workers == 1:
        _serve_here(settings, token, host, port, migrate=migrate)
        return
    # Checked and migrated once, here: a refusal is one line, and the workers do not race to
    # migrate. Closed again before the fork, so no thread of it is copied into the workers.
    with Memory.open(settings, auto_migrate=migrate):
        pass
    sock = bind(host, port)
    typer.echo(f"serving on http://{host}:{port} with {workers} worker processes {_WHERE}")
    Workers(
        workers, sock, lambda s: _serve_here(settings, token, host, port, migrate=False, sock=s)
    ).run()


def _serve_here(
    settings: Settings,
    token: str,
    host: str,
    port: int,
    *,
    migrate: bool,
    sock: socket.socket | None = None,
) -> None:
    """One serving process: its memory, its app, its server, until SIGTERM or SIGINT."""
    from konstruct_memory.api.observability import Metrics
    from konstruct_memory.library import Memory
    from konstruct_memory.serving import create_app
    from konstruct_memory.serving.server import serve as run_server

    metrics = Metrics()
    # Before the memory opens: its pool's connections report their statements as spans.
    stages = start_tracing()
    # Opened here, not in the app's start-up, so that a refusal (schema behind the code,
    # unsafe role) is a one-line error rather than a failed lifespan. The memory runs the
    # supervisor and the retention schedule, and stops them when it closes.
    try:
        with Memory.open(settings, auto_migrate=migrate, observer=metrics, serving=True) as memory:
            app = create_app(settings, memory=memory, metrics=metrics, admin_token=token, host=host)
            if sock is None:
                typer.echo(f"serving on http://{host}:{port} {_WHERE}")
            run_server(app, host, port, settings, sock)
    finally:
        stages.close()  # the spans still queued are sent


def refuse_tracing_without_extra() -> None:
    """An OTLP endpoint configured without the packages to reach it is a one-line refusal:
    serving untraced would hide that the traces asked for are not coming."""
    if tracing.endpoint_configured():
        missing = tracing.extra_missing()
        if missing is not None:
            raise ConfigurationError(
                f"an OTLP endpoint is set ({' or '.join(tracing.ENDPOINT_VARIABLES)}) but "
                f"tracing's packages are not installed ({missing} is missing): "
                f"{tracing.INSTALL_HINT}"
            )


def start_tracing() -> tracing.Stages:
    """The process's stage hooks: exporting over OTLP/HTTP when an endpoint is configured,
    else the null ones, with nothing of OpenTelemetry's SDK loaded."""
    if not tracing.endpoint_configured():
        return tracing.active()
    from konstruct_memory.serving.traces import export_over_otlp

    stages = export_over_otlp()
    tracing.use(stages)
    return stages


def mcp(
    url: str = typer.Option(
        "http://127.0.0.1:8080",
        "--url",
        envvar="KONSTRUCT_MEMORY_URL",
        help="Base URL of the HTTP service.",
    ),
    api_key: str = typer.Option(
        ...,
        "--api-key",
        envvar="KONSTRUCT_MEMORY_API_KEY",
        help="An API key bound to the agent (prefer the environment variable).",
    ),
) -> None:
    """Serve the memory as MCP tools on stdin/stdout, through the HTTP service at --url.

    For desktop agents that start their tools as commands. The key must be bound to an agent
    (an MCP session acts as one agent); the tools are remember, recall, history, context, and
    forget for a key with the erase scope.
    """
    from konstruct_memory.mcp.stdio import serve_stdio

    serve_stdio(url, api_key)
